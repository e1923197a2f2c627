"""The agent's loop: keep one node as its NodeNetworkConfig says, and report in its status.

kopf's event handlers (`running`) feed `Agent.observe` a snapshot of the spec kinds, the
Nodes, the IPBlocks and this node's NodeNetworkConfig; `Agent.run` calls
`netwright.provisioning.provision` (the call the CLI and Ansible make: lock, facts,
plan, engine) on every change and every `--resync-interval` seconds, and writes the
node's NodeNetworkConfig status (through /status) only when it says something new.
Changes made when nothing it was given had changed are drift: repaired, recorded in
`status.drift` and posted as an Event. What the status says is decided in `deciding`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import time
from typing import TYPE_CHECKING, Any

import aiohttp

from netwright._kube import (
    ApiError,
    Client,
    api_time,
    resource_path,
    resource_version,
)
from netwright.agent.deciding import (
    Outcome,
    agent_status,
    bgp_summary,
    inputs_key,
    needed_secrets,
    spec_documents,
    vtep_mac,
)
from netwright.documents import ALL_PLURALS
from netwright.engine import Memo
from netwright.errors import NetwrightError
from netwright.kernel import birdctl
from netwright.model.spec import GROUP_VERSION
from netwright.pipeline import Pipeline
from netwright.provisioning import Options, provision
from netwright.render import BIRD_SOCKET, under
from netwright.validate import validate_documents

if TYPE_CHECKING:
    from collections.abc import Mapping

    from netwright.agent._metrics import AgentMetrics
    from netwright.engine import Target

logger = logging.getLogger("netwright.agent")
ERRORS = (ApiError, OSError, TimeoutError, aiohttp.ClientError)


class Agent:
    def __init__(
        self,
        *,
        node: str,
        target: Target,
        options: Options,
        resync: float,
        metrics: AgentMetrics | None = None,
    ) -> None:
        self.node = node
        #: Counted into when given (`--metrics-port`); None: nothing is counted.
        self.metrics = metrics
        self.target = target
        self.options = options
        self.resync = resync
        self.cache: dict[str, dict[str, dict[str, Any]]] = {p: {} for p in ALL_PLURALS}
        self.credentials: Any = None
        self.logged_in = asyncio.Event()
        self.dirty = asyncio.Event()
        #: The inputs of the last run that succeeded: the same inputs again, and changes
        #: made, mean someone changed the node by hand (drift).
        self._good: str | None = None
        #: When (event loop clock) the last provisioning run started.
        self._last_run = float("-inf")
        #: "Waiting for the controller" was said and still holds.
        self._waiting = False
        #: The last validated, allocated spec and the inputs it came from: a resync with
        #: the same inputs reuses it (validating thousands of peers is most of an idle
        #: resync's cost) and only observes, diffs and applies. One entry, replaced.
        self._pipeline: tuple[str, Pipeline] | None = None
        #: What one engine run learns that the next may reuse (the dump parsers'
        #: layouts, the desired objects' wire forms): the agent's for its life,
        #: passed to every run, bounded (`netwright.engine.Memo`). Runs are one at a
        #: time (`once` awaits each), as a memo asks.
        self._memo = Memo()

    def observe(self, plural: str, kind: str | None, obj: Mapping[str, Any]) -> None:
        name = obj.get("metadata", {}).get("name")
        if not name or (plural == "nodenetworkconfigs" and name != self.node):
            return
        cached = self.cache[plural].get(name)
        if kind == "DELETED":
            if cached is None or resource_version(obj) >= resource_version(cached):
                self.cache[plural].pop(name, None)
                self.dirty.set()
            return
        if cached is not None and resource_version(obj) <= resource_version(cached):
            return
        self.cache[plural][name] = dict(obj)
        self.dirty.set()

    async def relist(self, api: Client) -> None:
        for plural in ALL_PLURALS:
            listing = await api.get(resource_path(plural))
            fresh = {}
            for item in listing.get("items", ()):
                name = item["metadata"]["name"]
                if plural != "nodenetworkconfigs" or name == self.node:
                    fresh[name] = item
            for name, cached in self.cache[plural].items():
                if name in fresh and resource_version(cached) > resource_version(fresh[name]):
                    fresh[name] = cached
            self.cache[plural] = fresh

    async def run(self) -> None:
        await self.logged_in.wait()
        observe = None if self.metrics is None else self.metrics.api.observe
        async with Client(
            self.credentials, component="agent", identity=self.node, observe=observe
        ) as api:
            for delay in itertools.chain([0.2, 0.5, 1, 2, 5], itertools.repeat(10)):
                try:
                    await self.relist(api)
                    break
                except ERRORS as exc:
                    logger.warning("listing failed, again in %g s: %s", delay, exc)
                    await asyncio.sleep(delay)
            logger.info("listed; node %s, %s", self.node, self.target)
            self.dirty.set()
            while True:
                with contextlib.suppress(TimeoutError):
                    # Due at the last run plus the interval, however many events came
                    # since: events that change nothing must not postpone the resync.
                    due = self._last_run + self.resync - asyncio.get_running_loop().time()
                    async with asyncio.timeout(max(0.0, due)):
                        await self.dirty.wait()
                await asyncio.sleep(0.05)
                self.dirty.clear()
                try:
                    await self.once(api)
                except ERRORS as exc:
                    logger.warning("status not written, again soon: %s", exc)
                    asyncio.get_running_loop().call_later(1.0, self.dirty.set)

    async def once(self, api: Client) -> None:
        """One provisioning run (if the node's config exists) and its status."""
        config = self.cache["nodenetworkconfigs"].get(self.node)
        now = asyncio.get_running_loop().time()
        if config is None:
            if not self._waiting:  # said once, not every resync
                logger.info("no NodeNetworkConfig/%s yet: waiting for the controller", self.node)
                self._waiting = True
            # Its creation is an event; until then, nothing is due before the next resync.
            self._last_run = now
            return
        self._waiting = False
        generation = int(config.get("metadata", {}).get("generation", 0))
        secrets = {}
        for namespace, name in needed_secrets(config):
            try:
                secrets[namespace, name] = await api.get(
                    f"/api/v1/namespaces/{namespace}/secrets/{name}"
                )
            except ApiError as exc:  # named, never its value
                outcome = Outcome(
                    generation=generation,
                    ok=False,
                    error=f"Secret {namespace}/{name} cannot be read: {exc.code} {exc.message}",
                )
                self._last_run = now  # Secrets are not watched: read again at the next resync
                await self._report(api, config, outcome)
                return
        documents = spec_documents(self.cache, secrets)
        # The key sees a password change (the digest of the documents, never the value).
        key = inputs_key(documents, generation)
        if key == self._good and now - self._last_run < self.resync:
            return  # nothing it is given changed (a heartbeat, its own status) and no resync due
        self._last_run = now
        started = time.perf_counter()
        outcome = await asyncio.to_thread(self._provision, documents, generation, key)
        self._count(outcome, time.perf_counter() - started)
        if (config.get("spec") or {}).get("bird") is not None:
            outcome = dataclasses.replace(outcome, bgp=await asyncio.to_thread(self._bgp))
        await self._report(api, config, outcome)

    def _bgp(self) -> dict[str, Any]:
        """The node's BGP sessions as its BIRD reports them (blocking: a worker thread)."""
        socket = under(self.target.root, BIRD_SOCKET)
        try:
            found = birdctl.sessions(socket)
        except OSError as exc:
            summary = bgp_summary(None, f"BIRD at {socket} is not answering: {exc}")
        else:
            summary = bgp_summary(found)
        if self.metrics is not None:
            up = summary["established"]
            self.metrics.bgp_sessions.labels("established").set(up)
            self.metrics.bgp_sessions.labels("other").set(summary["sessions"] - up)
        return summary

    def _count(self, outcome: Outcome, seconds: float) -> None:
        if self.metrics is None:
            return
        result = "ok" if outcome.ok else "invalid" if outcome.invalid else "failed"
        self.metrics.applies.labels(result).inc()
        self.metrics.apply_seconds.observe(seconds)
        self.metrics.changes.inc(outcome.changes)
        if outcome.drift:
            self.metrics.drift_repaired.inc()
            self.metrics.drift_changes.inc(outcome.changes)

    async def _report(self, api: Client, config: Mapping[str, Any], outcome: Outcome) -> None:
        """The status `outcome` calls for, when it says something new, and its Event."""
        status = agent_status(config.get("status"), outcome, api_time())
        if status is None:
            return
        # The whole status, replaced: a field the new one drops (bgp.unavailable once BIRD
        # answers) must go, which a merge patch would keep, and then differ every resync.
        done = await api.json_patch(
            resource_path("nodenetworkconfigs", self.node) + "/status",
            [{"op": "add", "path": "/status", "value": status}],
        )
        self.observe("nodenetworkconfigs", "MODIFIED", done)
        if outcome.drift:
            message = "; ".join(outcome.lines)
            await self._event(api, config, "DriftRepaired", message, warning=False)
        elif not outcome.ok:
            message = outcome.error or "; ".join(outcome.lines)
            await self._event(api, config, "ApplyFailed", message, warning=True)

    def _provision(self, documents: list[Any], generation: int, key: str) -> Outcome:
        """Blocking (netlink, files, the lock): runs in a worker thread."""
        config = self.cache["nodenetworkconfigs"].get(self.node, {})
        mac = vtep_mac(config)
        cached = self._pipeline if self._pipeline is not None and self._pipeline[0] == key else None
        spec = None
        if cached is None:
            self._pipeline = None
            spec, issues = validate_documents(documents)
            if spec is None:
                text = "; ".join(str(i) for i in issues[:5])
                return Outcome(generation=generation, ok=False, invalid=True, error=text)
        try:
            if cached is not None:
                pipeline = cached[1]
            else:
                assert spec is not None
                pipeline = Pipeline.from_spec(spec)
                self._pipeline = (key, pipeline)
            report = provision(
                pipeline,
                self.node,
                self.target,
                check=False,
                options=self.options,
                memo=self._memo,
            )
        except NetwrightError as exc:
            logger.warning("node %s: %s", self.node, exc)
            return Outcome(generation=generation, ok=False, error=str(exc), vtep_mac=mac)
        changes = sum(c.count for c in report.result.done) if report.result else 0
        lines = tuple(report.delta.lines())
        said = report.lines()
        if changes or not report.ok:
            logger.info("%s", said[0])
        for line in said[1:]:
            logger.debug("%s", line)
        drift = report.ok and changes > 0 and key == self._good
        if report.ok:
            self._good = key
        return Outcome(
            generation=generation,
            ok=report.ok,
            changes=changes,
            lines=lines[:50],
            error="" if report.ok else "; ".join(report.result.lines() if report.result else ()),
            drift=drift,
            vtep_mac=mac,
        )

    async def _event(
        self, api: Client, config: Mapping[str, Any], reason: str, message: str, *, warning: bool
    ) -> None:
        now = api_time()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{self.node}.", "namespace": "default"},
            "involvedObject": {
                "apiVersion": GROUP_VERSION,
                "kind": "NodeNetworkConfig",
                "name": self.node,
                "uid": config.get("metadata", {}).get("uid", ""),
            },
            "reason": reason,
            "message": message[:1024],
            "type": "Warning" if warning else "Normal",
            "source": {"component": "netwright-agent", "host": self.node},
            "reportingComponent": "netwright.io/agent",
            "reportingInstance": self.node,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await api.create("/api/v1/namespaces/default/events", event)
        except ApiError as exc:
            logger.warning("event %s not posted: %s", reason, exc)
