# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The fine-grained modules: listed objects of one kind, checked, built, and made so.

Why it exists: `link`, `route`, `neighbour`, `fdb`, `sysctl`, `nat`, `conflist` and
`bird` each take a list of objects of one kind. This module checks each entry the way
Ansible's types cannot (addresses, MACs, names, combinations), naming the entry
(`routes[3].via: ...`), builds the same model objects `netwright.plan` builds for a node,
and hands them to `netwright.provisioning.provision_objects` with a `Scope` of that kind:
the engine observes, diffs and applies them, owning only what netwright owns.

What it must not do: talk to the kernel itself (only the engine does), change anything
in check mode, or apply part of a list when any entry is wrong or a foreign object is
in the way (the whole task fails, naming each, and nothing changes).
"""

from __future__ import annotations

import json
import re
import socket
import traceback

from ansible_collections.netwright.fabric.plugins.module_utils.actions import ActionFailed
from ansible_collections.netwright.fabric.plugins.module_utils.entries import EntryCheck, Problems

try:
    from netwright.engine import Scope
    from netwright.kernel import Target
    from netwright.model.config import NatOutgoing
    from netwright.model.state import (
        BirdControl,
        FdbEntry,
        File,
        Link,
        Neighbour,
        NodeState,
        Route,
        Sysctl,
        VxlanLink,
    )
    from netwright.plan import nat_table
    from netwright.plan.planning import BIRD_GROUP, BIRD_MODE, CONFLIST_MODE
    from netwright.provisioning import Options, provision_objects
    from netwright.render.rendering import BIRD_CONFIG, BIRD_SOCKET, CNI_DIR, under
except ImportError:
    HAS_NETWRIGHT = False
    NETWRIGHT_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_NETWRIGHT = True
    NETWRIGHT_IMPORT_ERROR = None

_SYSCTL = re.compile(r"^net(\.[A-Za-z0-9_-]+)+$")


# -- one builder per module: params -> (NodeState fields, Scope kinds, file dirs) ---------


def _links(params, check):
    links = []
    for i, e in enumerate(params["links"]):
        at = f"links[{i}]"
        name = check.ifname(f"{at}.name", e["name"])
        check.between(f"{at}.mtu", e["mtu"], 68, 65535)
        mac = check.mac(f"{at}.mac", e["mac"])
        vxlan = None
        vx_given = [k for k in ("vni", "local", "dev") if e[k] is not None]
        if e["kind"] == "vxlan":
            if params["state"] == "present":
                for k in ("vni", "local"):
                    if e[k] is None:
                        check.problem(f"{at}.{k}", "required for a vxlan link")
                check.between(f"{at}.vni", e["vni"], 0, 2**24 - 1)
                check.between(f"{at}.port", e["port"], 1, 65535)
                local = check.ip(f"{at}.local", e["local"])
                dev = check.ifname(f"{at}.dev", e["dev"])
                if e["vni"] is not None and local is not None:
                    vxlan = VxlanLink(
                        vni=e["vni"], port=e["port"], local=local, dev=dev, learning=e["learning"]
                    )
        elif vx_given:
            check.problem(at, f"{', '.join(vx_given)}: only for kind vxlan, not {e['kind']}")
        links.append(
            Link(name=name or "", kind=e["kind"], mtu=e["mtu"], mac=mac, up=e["up"], vxlan=vxlan)
        )
    check.unique("links", [lk.name for lk in links])
    return {"links": tuple(links)}, {"link"}, ()


def _routes(params, check):
    routes = []
    for i, e in enumerate(params["routes"]):
        at = f"routes[{i}]"
        dst = check.network(f"{at}.dst", e["dst"])
        via = check.ip(f"{at}.via", e["via"])
        dev = check.ifname(f"{at}.dev", e["dev"])
        check.between(f"{at}.metric", e["metric"], 0, 2**32 - 1)
        check.between(f"{at}.table", e["table"], 1, 2**32 - 1)
        if params["state"] == "present" and via is None and dev is None:
            check.problem(at, "needs `via`, `dev` or both")
        if e["onlink"] and dev is None:
            check.problem(f"{at}.onlink", "needs `dev`: an onlink gateway is on that device")
        if dst is not None and via is not None and dst.version != via.version:
            check.problem(
                f"{at}.via", f"{via} is IPv{via.version}, `dst` {dst} is IPv{dst.version}"
            )
        if dst is None:
            routes.append(None)
            continue
        routes.append(
            Route(
                dst=dst,
                gateway=via,
                dev=dev,
                onlink=e["onlink"],
                table=e["table"],
                metric=e["metric"],
            )
        )
    check.unique("routes", [r.key if r is not None else None for r in routes])
    return {"routes": tuple(r for r in routes if r is not None)}, {"route"}, ()


def _neighbours(params, check):
    out = []
    for i, e in enumerate(params["neighbours"]):
        at = f"neighbours[{i}]"
        dev = check.ifname(f"{at}.dev", e["dev"])
        ip = check.ip(f"{at}.ip", e["ip"])
        mac = check.mac(f"{at}.mac", e["mac"])
        if ip is not None and mac is not None:
            out.append(Neighbour(dev=dev, ip=ip, mac=mac))
    check.unique("neighbours", [n.key for n in out])
    return {"neighbours": tuple(out)}, {"neighbour"}, ()


def _fdb(params, check):
    out = []
    for i, e in enumerate(params["entries"]):
        at = f"entries[{i}]"
        dev = check.ifname(f"{at}.dev", e["dev"])
        mac = check.mac(f"{at}.mac", e["mac"])
        dst = check.ip(f"{at}.dst", e["dst"])
        if dst is not None and mac is not None:
            out.append(FdbEntry(dev=dev, mac=mac, dst=dst))
    check.unique("entries", [f.key for f in out])
    return {"fdb": tuple(out)}, {"fdb"}, ()


def _sysctls(params, check):
    out = []
    for i, e in enumerate(params["sysctls"]):
        name = e["name"].replace("/", ".")
        if not _SYSCTL.match(name):
            check.problem(
                f"sysctls[{i}].name",
                f"{e['name']!r} is not a per-namespace sysctl (net.*, dots or slashes)",
            )
        out.append(Sysctl(name=name, value=e["value"], optional=e["optional"]))
    check.unique("sysctls", [s.name for s in out])
    return {"sysctls": tuple(out)}, {"sysctl"}, ()


def _nat(params, check):
    sources = [check.network(f"sources[{i}]", n) for i, n in enumerate(params["sources"])]
    exclude = [check.network(f"exclude[{i}]", n) for i, n in enumerate(params["exclude"])]
    if params["state"] == "present" and not params["sources"]:
        check.problem("sources", "at least one network to masquerade is needed with state=present")
    if params["state"] == "absent" and (params["sources"] or params["exclude"]):
        check.problem("sources", "not with state=absent, which removes the whole table")
    if check.lines or params["state"] == "absent":
        return {}, {"nft"}, ()
    table = nat_table(NatOutgoing(sources=tuple(sources), exclude=tuple(exclude)))
    return {"nft": table}, {"nft"}, ()


def _conflists(params, check):
    directory = under(params["root"], CNI_DIR)
    files = []
    for i, e in enumerate(params["conflists"]):
        at = f"conflists[{i}]"
        name = e["name"]
        if not name or "/" in name or name in (".", "..") or name.startswith("."):
            check.problem(f"{at}.name", f"{name!r} is not a plain file name")
            continue
        config = e["config"]
        if params["state"] == "present":
            missing = [k for k in ("cniVersion", "name", "plugins") if k not in config]
            if missing:
                check.problem(f"{at}.config", f"a conflist needs {', '.join(missing)}")
            elif not isinstance(config["plugins"], list) or not config["plugins"]:
                check.problem(f"{at}.config.plugins", "must be a non-empty list")
        content = json.dumps(config, indent=2) + "\n"
        files.append(File(path=f"{directory}/{name}", content=content, mode=CONFLIST_MODE))
    check.unique("conflists", [f.path for f in files])
    return {"files": tuple(files)}, {"file"}, (directory,)


def _bird(params, check):
    config = under(params["root"], BIRD_CONFIG)
    if params["state"] == "absent":
        if params["config"] is not None:
            check.problem("config", "not with state=absent, which removes the file")
        return {"files": (File(path=config, content=""),)}, {"file"}, ()
    if params["config"] is None:
        check.problem("config", "required with state=present")
        return {}, {"file", "bird"}, ()
    text = params["config"] if params["config"].endswith("\n") else params["config"] + "\n"
    file = File(path=config, content=text, mode=BIRD_MODE, owner="root", group=BIRD_GROUP)
    control = BirdControl(config=config, socket=under(params["root"], BIRD_SOCKET))
    return {"files": (file,), "bird": control}, {"file", "bird"}, ()


BUILDERS = dict(
    link=_links,
    route=_routes,
    neighbour=_neighbours,
    fdb=_fdb,
    sysctl=_sysctls,
    nat=_nat,
    conflist=_conflists,
    bird=_bird,
)


def build(module, params):
    """(NodeState, Scope) for fine-grained module `module`; `Problems` names bad entries."""
    check = EntryCheck()
    state = params.get("state", "present")
    purge = params.get("purge", False)
    if purge and state == "absent":
        check.problem("purge", "only with state=present (it removes what is not listed)")
    fields, kinds, dirs = BUILDERS[module](params, check)
    check.done()
    node = params.get("netns") or socket.gethostname()
    scope = Scope(
        kinds=frozenset(kinds), purge=bool(purge), absent=state == "absent", file_dirs=dirs
    )
    return NodeState(node=node, **fields), scope


# -- results ---------------------------------------------------------------------------


def _object_lines(kind, key, value):
    if value is None:
        return []
    if isinstance(value, dict) and "content" in value:  # a file: its text, when showable
        head = f"{kind} {key} (mode {value['mode']}, {value['owner']}:{value['group']})"
        body = value["content"]
        return [head] + (body.splitlines() if body is not None else ["(content not shown)"])
    if isinstance(value, dict) and "text" in value:  # the nft table
        return [f"{kind} {key}", *value["text"].splitlines()]
    if isinstance(value, dict):
        shown = ", ".join(f"{k}={v}" for k, v in value.items() if v is not None)
        return [f"{kind} {key}: {shown}"]
    return [f"{kind} {key}: {value}"]


def _diff(report):
    """Ansible's before/after: the changed objects as found, and as they will be."""
    before, after = [], []
    for change in report.delta.to_json()["changes"]:
        if change["op"] != "add":
            before.extend(_object_lines(change["kind"], change["key"], change["before"]))
        if change["op"] != "delete":
            after.extend(_object_lines(change["kind"], change["key"], change["after"]))
    where = str(report.target)
    return {
        "before": "\n".join(before) + ("\n" if before else ""),
        "after": "\n".join(after) + ("\n" if after else ""),
        "before_header": f"{where} (observed)",
        "after_header": f"{where} (as listed)",
    }


def result_of(report):
    """The module's result: counts, changes by key, conflicts, the plan text."""
    delta = report.delta.to_json()
    changes = []
    for change in delta["changes"]:
        item = {"op": change["op"], "kind": change["kind"], "key": change["key"]}
        if "count" in change:
            item["count"] = change["count"]
        changes.append(item)
    result = {
        "target": {"netns": report.target.netns, "root": report.target.root},
        "summary": delta["summary"],
        "changes": changes,
        "conflicts": [c["message"] for c in delta["conflicts"]],
        "plan": report.delta.lines(verbose=True),
    }
    if report.result is None:
        result["changed"] = not report.delta.empty and not report.delta.conflicts
    else:
        applied = report.result.to_json()
        result["applied"] = {"done": applied["done"], "failed": applied["failed"]}
        result["changed"] = bool(report.result.done)
    return result


def _failure(module, report):
    what = f"{module} ({report.target})"
    if report.delta.conflicts:
        lines = [f"{what}: foreign objects in the way; nothing was changed"]
        lines.extend(f"conflict: {c}" for c in report.delta.conflicts)
        return "\n".join(lines)
    failed = len(report.result.failed)
    lines = [f"{what}: {failed} of {len(report.delta.changes)} change(s) failed"]
    lines.extend(report.result.lines())
    return "\n".join(lines)


def make_objects(module):
    """The action of fine-grained module `module`, for `actions.run`."""

    def action(env):
        params = env.params
        try:
            state, scope = build(module, params)
        except Problems as exc:
            raise ActionFailed(
                str(exc), {"changed": False, "issues": exc.lines}, "argument"
            ) from None
        notes = []
        report = provision_objects(
            state,
            Target(netns=params.get("netns"), root=params["root"]),
            check=env.check_mode,
            scope=scope,
            options=Options(wait_lock=params["wait_lock"]),
            say=notes.append,
        )
        result = result_of(report)
        result["notes"] = notes + list(report.delta.notes)
        if env.diff_mode and not report.delta.empty:
            result["diff"] = _diff(report)
        if not report.ok:
            error = "conflict" if report.delta.conflicts else "failed"
            raise ActionFailed(_failure(module, report), result, error)
        return result

    action.__name__ = f"{module}_objects"
    return action
