"""The controller's loop: keep a snapshot of the API, decide, write what was decided.

Why it exists: kopf's event handlers feed `observe` (they write nothing to the objects
they watch: no finalizer, no annotation, so a Node joining costs no write to the Node);
this loop turns the snapshot into a `Decision` (`deciding.decide`, pure) and sends
exactly its writes, in the order that keeps the invariants: a node's
NodeNetworkConfig (its claim, create-only or with its resourceVersion) before its
IPBlocks (create-only), deletions last. A 409 means another writer won: the loop takes
what the server says into the snapshot and decides again.

What it must not do: decide (every rule lives in `deciding`), act on a partial view
(it lists every kind itself before the first decision, so a start-up sweep never frees a
block whose node it has simply not seen yet), or write what is already so.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from typing import TYPE_CHECKING, Any

import aiohttp

from netwright._kube import ApiError, Client, api_time, resource_path, resource_version
from netwright.controller.deciding import (
    ALL_PLURALS,
    SPEC_KINDS,
    Snapshot,
    decide,
    what_matters,
)
from netwright.model.spec import GROUP_VERSION

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from netwright.controller._metrics import ControllerMetrics
    from netwright.controller.deciding import Decision, Note

logger = logging.getLogger("netwright.controller")

EVENTS_NAMESPACE = "default"  # where cluster-scoped objects' Events go, as kopf posts them


class Reconciler:
    """The snapshot (fed by kopf's events and by its own lists) and the loop over it."""

    def __init__(
        self,
        *,
        identity: str,
        resync: float = 300.0,
        debounce: float = 0.05,
        leading: asyncio.Event | None = None,
        metrics: ControllerMetrics | None = None,
    ) -> None:
        self.identity = identity
        #: Counted into when given (`--metrics-port`); None: nothing is counted.
        self.metrics = metrics
        #: Set while this replica may act (leader election); None: always.
        self.leading = leading
        self.resync = resync
        self.debounce = debounce
        self.cache: dict[str, dict[str, dict[str, Any]]] = {p: {} for p in ALL_PLURALS}
        self._gone: dict[str, dict[str, int]] = {p: {} for p in ALL_PLURALS}
        self.credentials: Any = None
        self.logged_in = asyncio.Event()
        self.dirty = asyncio.Event()
        #: Writes sent (successful or not), for the logs and the tests.
        self.writes = 0

    # -- the snapshot ----------------------------------------------------------------

    def observe(self, plural: str, kind: str | None, obj: Mapping[str, Any]) -> None:
        """One watch event (kind None: the initial listing), newest version wins."""
        name = obj.get("metadata", {}).get("name")
        if not name:
            return
        version = resource_version(obj)
        cached = self.cache[plural].get(name)
        if kind == "DELETED":
            if cached is None or version >= resource_version(cached):
                self.cache[plural].pop(name, None)
                self._gone[plural][name] = version
                self.dirty.set()
            return
        if cached is not None and version <= resource_version(cached):
            return
        if cached is None and version <= self._gone[plural].get(name, -1):
            return  # an event older than the deletion this replica already saw or made
        self._gone[plural].pop(name, None)
        self.cache[plural][name] = dict(obj)
        if cached is None or what_matters(plural, cached) != what_matters(plural, obj):
            self.dirty.set()

    def _store(self, plural: str, obj: Mapping[str, Any]) -> None:
        self.observe(plural, "MODIFIED", obj)

    def _forget(self, plural: str, name: str) -> None:
        cached = self.cache[plural].pop(name, None)
        if cached is not None:
            self._gone[plural][name] = resource_version(cached)

    async def relist(self, api: Client) -> None:
        """Every kind, listed whole: the view the first decision (and the sweep) needs."""
        for plural in ALL_PLURALS:
            while True:
                try:
                    listing = await api.get(resource_path(plural))
                except ApiError as exc:
                    if exc.code in (429, 503):  # a new CRD's storage is (re)initialising
                        await asyncio.sleep(0.2)
                        continue
                    raise
                break
            kind = listing.get("kind", "").removesuffix("List")
            fresh = {}
            for item in listing.get("items", ()):
                item.setdefault("kind", kind)
                item.setdefault("apiVersion", listing.get("apiVersion"))
                fresh[item["metadata"]["name"]] = item
            for name, cached in self.cache[plural].items():  # newer from a watch: keep
                if name in fresh and resource_version(cached) > resource_version(fresh[name]):
                    fresh[name] = cached
            self.cache[plural] = fresh
            # The listing is the truth up to its resourceVersion: deletions it already
            # reflects need no tombstone (nodes come and go: they must not pile up).
            listed = resource_version(listing)
            self._gone[plural] = {n: v for n, v in self._gone[plural].items() if v > listed}

    # -- the loop --------------------------------------------------------------------

    async def run(self) -> None:
        await self.logged_in.wait()
        observe = None if self.metrics is None else self.metrics.api.observe
        async with Client(
            self.credentials, component="controller", identity=self.identity, observe=observe
        ) as api:
            await self._retrying(lambda: self.relist(api), "listing")
            logger.info("listed %d objects", sum(len(objs) for objs in self.cache.values()))
            self.dirty.set()
            last_list = asyncio.get_running_loop().time()
            while True:
                # asyncio.timeout, not wait_for: no task of our own for kopf to wait for on exit.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.resync):
                        await self.dirty.wait()
                await asyncio.sleep(self.debounce)
                self.dirty.clear()
                if self.leading is not None and not self.leading.is_set():
                    logger.info("waiting to lead")
                    await self.leading.wait()
                    last_list = -self.resync  # list again: act on the whole view at once
                if asyncio.get_running_loop().time() - last_list >= self.resync:
                    await self._retrying(lambda: self.relist(api), "listing")
                    last_list = asyncio.get_running_loop().time()
                try:
                    again = await self.reconcile(api)
                except (ApiError, OSError, TimeoutError, aiohttp.ClientError) as exc:
                    logger.warning("reconcile failed, deciding again: %s", exc)
                    again = True
                    self._count("failed")
                else:
                    self._count("again" if again else "done")
                if again:
                    asyncio.get_running_loop().call_later(0.5, self.dirty.set)

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.reconciles.labels(result).inc()

    async def _retrying(self, call: Callable[[], Awaitable[None]], what: str) -> None:
        """`call` until it succeeds, backing off to 10 s between API or network errors."""
        for delay in itertools.chain([0.2, 0.5, 1, 2, 5], itertools.repeat(10)):
            try:
                await call()
            except (ApiError, OSError, TimeoutError, aiohttp.ClientError) as exc:
                logger.warning("%s failed, again in %g s: %s", what, delay, exc)
                await asyncio.sleep(delay)
            else:
                return

    async def reconcile(self, api: Client) -> bool:
        """Decide and write once; True when something must be decided again (a 409)."""
        snapshot = Snapshot(objects={p: dict(objs) for p, objs in self.cache.items()})
        # In a worker thread: about 1 s at 5,000 nodes, during which kopf keeps reading
        # its watches and the Lease is renewed (the snapshot's objects are never mutated:
        # `observe` replaces them whole).
        started = time.perf_counter()
        decision = await asyncio.to_thread(decide, snapshot, api_time())
        if self.metrics is not None:
            self.metrics.decision_seconds.observe(time.perf_counter() - started)
            self.metrics.decided_writes.inc(decision.writes)
        for issue in decision.issues:
            logger.info("invalid: %s", issue)
        if decision.writes:
            logger.info("deciding %d writes", decision.writes)
        return await self._write(api, decision)

    async def _write(self, api: Client, decision: Decision) -> bool:
        again = bool(decision.contested)
        unwritten: set[tuple[str, str]] = set()
        for write in decision.statuses:
            path = resource_path(write.plural, write.name) + "/status"
            try:
                self.writes += 1
                done = await api.merge_patch(path, {"status": write.status})
            except ApiError as exc:
                unwritten.add((SPEC_KINDS.get(write.plural, write.plural), write.name))
                if exc.code != 404:
                    logger.warning("%s status: %s", write.name, exc)
                    again = True
                continue
            self._store(write.plural, done)
        for config in decision.configs:
            plural = "nodenetworkconfigs"
            try:
                self.writes += 1
                if config.resource_version is None:
                    done = await api.create(resource_path(plural), config.document)
                else:
                    body = dict(config.document)
                    body["metadata"] = {
                        **body["metadata"],
                        "resourceVersion": config.resource_version,
                    }
                    done = await api.replace(resource_path(plural, config.node), body)
            except ApiError as exc:
                if exc.code not in (404, 409):
                    raise
                logger.info("NodeNetworkConfig/%s: another writer was first (%s)", config.node, exc)
                again = True
                continue
            self._store(plural, done)
            for block in config.blocks:
                again |= not await self._create_block(api, block)
        for block in decision.blocks:
            again |= not await self._create_block(api, block)
        for name in decision.delete_blocks:
            await self._delete(api, "ipblocks", name)
        for name in decision.delete_configs:
            await self._delete(api, "nodenetworkconfigs", name)
        for note in decision.notes:
            if (note.kind, note.name) not in unwritten:  # said again when the status is
                await self._post(api, note)
        return again

    async def _create_block(self, api: Client, block: dict[str, Any]) -> bool:
        """Create one IPBlock; False when another node's block holds its CIDR."""
        name = block["metadata"]["name"]
        try:
            self.writes += 1
            done = await api.create(resource_path("ipblocks"), block)
        except ApiError as exc:
            if exc.code != 409:
                raise
            existing = await api.get(resource_path("ipblocks", name))
            self._store("ipblocks", existing)
            theirs, ours = existing.get("spec", {}), block["spec"]
            if (theirs.get("node"), theirs.get("pool")) == (ours["node"], ours["pool"]):
                return True  # the same block, created by another replica: nothing to do
            logger.info(
                "IPBlock/%s: node %s holds it; node %s gets another",
                name,
                theirs.get("node"),
                ours["node"],
            )
            return False
        self._store("ipblocks", done)
        return True

    async def _delete(self, api: Client, plural: str, name: str) -> None:
        try:
            self.writes += 1
            await api.delete(resource_path(plural, name))
        except ApiError as exc:
            if exc.code != 404:
                raise
        self._forget(plural, name)

    async def _post(self, api: Client, note: Note) -> None:
        """A Kubernetes Event about what was done; a failure to post loses only the Event."""
        obj = next(
            (
                o
                for p, objs in self.cache.items()
                if (o := objs.get(note.name)) is not None and o.get("kind") == note.kind
            ),
            None,
        )
        now = api_time()
        involved: dict[str, Any] = {
            "apiVersion": GROUP_VERSION,
            "kind": note.kind,
            "name": note.name,
        }
        if obj is not None and obj.get("metadata", {}).get("uid"):
            involved["uid"] = obj["metadata"]["uid"]
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{note.name}.", "namespace": EVENTS_NAMESPACE},
            "involvedObject": involved,
            "reason": note.reason,
            "message": note.message[:1024],
            "type": "Warning" if note.warning else "Normal",
            "source": {"component": "netwright-controller"},
            "reportingComponent": "netwright.io/controller",
            "reportingInstance": self.identity,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            self.writes += 1
            await api.create(f"/api/v1/namespaces/{EVENTS_NAMESPACE}/events", event)
        except ApiError as exc:
            logger.warning("event %s/%s not posted: %s", note.kind, note.name, exc)
