# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""What the modules do, over the netwright package, and the one place its errors become failures.

Why it exists: a module parses its arguments and hands a `RunEnvironment` to `run` with
one of the actions here (`provision_node`, `allocate_blocks`, `inspect_node`). Each
action loads the spec (a directory, plus inventory Nodes where it has none), calls the
netwright package, and returns the module's result as a dict; `run` turns every
netwright error into `fail_json` with the same lines the `netwright` CLI prints.
Provisioning itself is `netwright.provisioning.provision`, the call every front end
makes, so a node provisioned here ends as the CLI and the agent leave it.

What it must not do: change anything in check mode, or before the spec has validated
and the target has been confirmed as the node's (`provision` refuses otherwise);
import netwright unguarded (the managed node may lack it: `missing_required_lib`).
"""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.netwright.fabric.plugins.module_utils.options import (
    check_target,
    node_documents,
)

try:
    from netwright.errors import (
        AllocationError,
        KernelError,
        NetwrightError,
        ValidationError,
    )
    from netwright.kernel import Target
    from netwright.locking import LockBusyError
    from netwright.pipeline import Pipeline
    from netwright.provisioning import Options, WrongTargetError, provision, write_ipblocks
except ImportError:
    HAS_NETWRIGHT = False
    NETWRIGHT_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_NETWRIGHT = True
    NETWRIGHT_IMPORT_ERROR = None


class ActionFailed(Exception):
    """An action's own failure (a change failed, a conflict): `msg` and partial result."""

    def __init__(self, msg, result, error="failed"):
        super().__init__(msg)
        self.msg = msg
        self.result = result
        self.error = error


# -- the one place errors become failures ----------------------------------------------


def run(env, action):
    """Run `action(env)` and end the module: its result, or a failure naming the cause.

    Every failure carries `error` (invalid, wrong_target, lock_busy, kernel, failed,
    conflict, netwright, os, argument, missing_library) for `failed_when`/`rescue` tests, and
    `changed: False` unless changes were made before the failure.
    """
    problems = check_target(env.params)
    if problems:
        return env.fail("\n".join(problems), {"changed": False, "error": "argument"})
    if not HAS_NETWRIGHT:
        return env.fail(
            missing_required_lib("netwright"),
            {"changed": False, "error": "missing_library", "exception": NETWRIGHT_IMPORT_ERROR},
        )
    try:
        result = action(env)
    except (ValidationError, AllocationError) as exc:
        lines = [str(issue) for issue in exc.issues]
        return env.fail("\n".join(lines), {"changed": False, "error": "invalid", "issues": lines})
    except ActionFailed as exc:
        return env.fail(exc.msg, dict(exc.result, error=exc.error))
    except WrongTargetError as exc:
        return env.fail(str(exc), {"changed": False, "error": "wrong_target"})
    except LockBusyError as exc:
        return env.fail(str(exc), {"changed": False, "error": "lock_busy"})
    except KernelError as exc:
        return env.fail(str(exc), {"changed": False, "error": "kernel"})
    except NetwrightError as exc:
        return env.fail(f"netwright: {exc}", {"changed": False, "error": "netwright"})
    except OSError as exc:  # writing ipblocks.yaml: a read-only or full spec directory
        where = f"{exc.filename}: " if exc.filename else ""
        return env.fail(f"{where}{exc.strerror or exc}", {"changed": False, "error": "os"})
    return env.exit(result)


# -- loading the spec ------------------------------------------------------------------


def load_pipeline(env):
    """The validated, allocated spec: `spec_dir`, with `nodes` when it holds no Node.

    Problems in an inventory Node are reported as `nodes[i]: Node/name: ...`.
    """
    spec_dir, entries = env.params["spec_dir"], env.params.get("nodes") or []
    pipeline = Pipeline.load(spec_dir, default_nodes=node_documents(entries), origin="nodes")
    if entries and not pipeline.default_nodes_used:
        env.warn(
            f"nodes: ignored, because {spec_dir} holds Node documents"
            " (the spec directory's Nodes win; remove them to use the inventory's)"
        )
    return pipeline


def _target(params):
    return Target(netns=params.get("netns"), root=params["root"])


def _options(params):
    return Options(
        underlay_dev=params.get("underlay"),
        underlay_mtu=params["underlay_mtu"],
        wait_lock=params["wait_lock"],
    )


# -- what a run did, as module results ---------------------------------------------------


def _plan_lines(report):
    """The lines `netwright plan -v` prints for this run's delta (no apply lines)."""
    return report.plan_lines(verbose=True)


def delta_result(report):
    """The pending (check mode) or made changes: counts, per kind, by key, the plan text."""
    delta = report.delta.to_json()
    changes = []
    for change in delta["changes"]:
        item = {"op": change["op"], "kind": change["kind"], "key": change["key"]}
        if "count" in change:
            item["count"] = change["count"]
        changes.append(item)
    return {
        "node": report.node,
        "target": {"netns": report.target.netns, "root": report.target.root},
        "summary": delta["summary"],
        "by_kind": report.delta.by_kind(),
        "changes": changes,
        "conflicts": [c["message"] for c in delta["conflicts"]],
        "plan": _plan_lines(report),
    }


def _plan_diff(report):
    return {
        "before_header": f"{report.target} (observed)",
        "after_header": f"node {report.node} (planned)",
        "prepared": "\n".join(_plan_lines(report)) + "\n",
    }


# -- the actions -----------------------------------------------------------------------


def provision_node(env):
    """Module `node`: plan the node and, outside check mode, apply the plan."""
    params = env.params
    pipeline = load_pipeline(env)
    notes = []
    report = provision(
        pipeline,
        params["node"],
        _target(params),
        check=env.check_mode,
        options=_options(params),
        say=notes.append,
    )
    result = delta_result(report)
    result["notes"] = notes
    if report.result is None:  # check mode: what would change
        result["changed"] = not report.delta.empty
    else:
        applied = report.result.to_json()
        result["applied"] = {"done": applied["done"], "failed": applied["failed"]}
        result["changed"] = bool(report.result.done)
    if env.diff_mode and not report.delta.empty:
        result["diff"] = _plan_diff(report)
    if not report.ok:
        raise ActionFailed(_failure(report), result)
    return result


def _failure(report):
    if report.result is None:
        lines = [f"node {report.node} ({report.target}): conflicts; nothing can be applied"]
        lines.extend(f"conflict: {c}" for c in report.delta.conflicts)
        return "\n".join(lines)
    failed, total = len(report.result.failed), len(report.delta.changes)
    lines = [f"node {report.node} ({report.target}): {failed} of {total} change(s) failed"]
    lines.extend(report.result.lines())
    return "\n".join(lines)


def inspect_node(env):
    """Module `node_info`: the node's live facts and its drift from the spec; changes nothing."""
    params = env.params
    pipeline = load_pipeline(env)
    node = params["node"]
    notes = []
    report = provision(
        pipeline, node, _target(params), check=True, options=_options(params), say=notes.append
    )
    facts = report.facts
    result = delta_result(report)
    drift = result.pop("changes")
    prefix = facts.underlay_prefix
    result.update(
        changed=False,
        in_sync=report.delta.empty and not report.delta.conflicts,
        drift=drift,
        notes=notes,
        facts={
            "underlay": facts.underlay_dev,
            "underlay_mtu": facts.underlay_mtu,
            "underlay_prefix": None if prefix is None else str(prefix),
            "root": facts.root,
        },
        blocks=[
            {"pool": b.pool, "cidr": str(b.cidr)}
            for b in pipeline.allocation.blocks
            if b.node == node
        ],
    )
    return result


def _blocks(blocks):
    return [{"pool": b.pool, "cidr": str(b.cidr), "node": b.node} for b in blocks]


def allocate_blocks(env):
    """Module `allocate`: validate and allocate the whole spec; keep ipblocks.yaml in step."""
    pipeline = load_pipeline(env)
    allocation = pipeline.allocation
    written = write_ipblocks(env.params["spec_dir"], pipeline, check=env.check_mode)
    path, changed = written.path, written.changed
    result = {
        "changed": changed,
        "path": path,
        "blocks": _blocks(allocation.blocks),
        "added": _blocks(allocation.added),
        "freed": _blocks(allocation.freed),
        "nodes": list(pipeline.node_names),
    }
    if env.diff_mode and changed:
        result["diff"] = {
            "before": written.before or "",
            "after": written.after,
            "before_header": path if written.before is not None else f"{path} (absent)",
            "after_header": path,
        }
    return result
