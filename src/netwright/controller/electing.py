"""Leader election on a coordination.k8s.io Lease: one replica acts, the others wait.

Why it exists: two active replicas are safe (every write the controller makes is
create-only or carries a resourceVersion, see `deciding`), but they waste writes on
409s; a Lease keeps one active. Correctness never depends on it: a replica that lost
its Lease without noticing does no harm but conflicts.

The rules (client-go's `leaderelection`, simplified): a Lease whose holder has not
renewed it for `leaseDurationSeconds`, *as observed on our own clock* (from when we
last saw its resourceVersion change; the holder's timestamps are never trusted across
machines), may be taken; taking and renewing are writes with the resourceVersion read,
so of two replicas that try at once one gets a 409 and stays a follower. A leader that
cannot renew within the duration stops acting before anyone may take over.

`decide_lease` is pure; `Elector` does the requests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netwright._kube import ApiError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from netwright._kube import Client

logger = logging.getLogger("netwright.controller")
LEASE_NAME = "netwright-controller"


def _micro(now: dt.datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, kw_only=True, slots=True)
class LeaseStep:
    """What to do with the Lease: `create`, `update` (renew or take over) or `wait`."""

    action: str
    body: dict[str, Any] | None = None


def decide_lease(
    lease: Mapping[str, Any] | None,
    *,
    me: str,
    namespace: str,
    duration: int,
    now: dt.datetime,
    unchanged_for: float,
) -> LeaseStep:
    """The next step for replica `me`, given the Lease as read (None: there is none) and
    how long (seconds, our clock) its resourceVersion has not changed."""
    spec = {
        "holderIdentity": me,
        "leaseDurationSeconds": duration,
        "renewTime": _micro(now),
    }
    if lease is None:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": LEASE_NAME, "namespace": namespace},
            "spec": {**spec, "acquireTime": _micro(now), "leaseTransitions": 0},
        }
        return LeaseStep(action="create", body=body)
    current = lease.get("spec") or {}
    holder = current.get("holderIdentity")
    held_for = current.get("leaseDurationSeconds") or duration
    if holder == me:
        body = {**lease, "spec": {**current, **spec}}
        return LeaseStep(action="update", body=body)
    if holder and unchanged_for < held_for:
        return LeaseStep(action="wait")
    transitions = int(current.get("leaseTransitions") or 0) + 1
    body = {
        **lease,
        "spec": {**current, **spec, "acquireTime": _micro(now), "leaseTransitions": transitions},
    }
    return LeaseStep(action="update", body=body)


class Elector:
    """Keeps `leading` set while this replica holds the Lease."""

    def __init__(
        self,
        *,
        identity: str,
        namespace: str,
        duration: int = 15,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.identity = identity
        self.namespace = namespace
        self.duration = duration
        self.leading = asyncio.Event()
        self._clock = clock
        self._seen: tuple[str, float] | None = None  # (resourceVersion, when first seen)
        self._renewed = 0.0

    @property
    def path(self) -> str:
        return f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases"

    async def run(self, api: Client) -> None:
        """Forever: try to take or renew the Lease every third of its duration."""
        while True:
            try:
                # A request that hangs must not keep this replica leading past its
                # Lease: each step gets a third of the duration, as its interval.
                async with asyncio.timeout(self.duration / 3):
                    await self.step(api)
            except (ApiError, OSError, TimeoutError) as exc:
                logger.warning("lease %s/%s: %s", self.namespace, LEASE_NAME, exc)
            if self.leading.is_set() and self._clock() - self._renewed > self.duration * 2 / 3:
                # Not renewed in time: stop acting before another replica may take over.
                logger.warning("lease not renewed in time: no longer leading")
                self.leading.clear()
            await asyncio.sleep(self.duration / 3)

    async def step(self, api: Client) -> None:
        try:
            lease: dict[str, Any] | None = await api.get(f"{self.path}/{LEASE_NAME}")
        except ApiError as exc:
            if exc.code != 404:
                raise
            lease = None
        now = self._clock()
        version = "" if lease is None else lease["metadata"]["resourceVersion"]
        if self._seen is None or self._seen[0] != version:
            self._seen = (version, now)
        step = decide_lease(
            lease,
            me=self.identity,
            namespace=self.namespace,
            duration=self.duration,
            now=dt.datetime.now(dt.UTC),
            unchanged_for=now - self._seen[1],
        )
        if step.action == "wait":
            if self.leading.is_set():
                logger.info("another replica holds the lease: no longer leading")
            self.leading.clear()
            return
        try:
            if step.action == "create":
                await api.create(self.path, step.body)
            else:
                await api.replace(f"{self.path}/{LEASE_NAME}", step.body)
        except ApiError as exc:
            # 409: another replica was first. 404 on a replace: the Lease went away
            # meanwhile (the next step creates it). A 404 on a create is no race: the
            # namespace is missing, and the caller says so.
            if exc.code != 409 and not (exc.code == 404 and step.action != "create"):
                self.leading.clear()
                raise
            self.leading.clear()
            return
        self._renewed = now
        if not self.leading.is_set():
            logger.info("leading (lease %s/%s)", self.namespace, LEASE_NAME)
        self.leading.set()
