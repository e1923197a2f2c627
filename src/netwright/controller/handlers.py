"""kopf registration for the controller: thin handlers that only feed the reconciler.

Every watched kind (IPPool, Network, Backend, BGPPeer, IPBlock, NodeNetworkConfig and
core Nodes) gets an *event* handler: kopf stores nothing for those (no finalizer, no
last-handled-configuration annotation, no progress in status), so watching a Node
writes nothing to it. The decisions are in `deciding`, the writes in `reconciling`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import kopf

from netwright.controller.deciding import ALL_PLURALS

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from netwright.controller.reconciling import Reconciler

GROUP, VERSION = "netwright.io", "v1alpha1"


def settings() -> kopf.OperatorSettings:
    """kopf settings that keep its own writes at none: it only watches."""
    s = kopf.OperatorSettings()
    s.posting.level = logging.WARNING  # the controller posts its own Events
    s.peering.standalone = True  # several replicas are safe without kopf's peering
    s.watching.server_timeout = 300
    # Per-object workers only hand events over: let them go soon, so a stop is quick
    # (kopf waits for idle workers on exit; 5 s by default).
    s.queueing.idle_timeout = 0.5
    s.queueing.exit_timeout = 1.0
    s.networking.error_backoffs = [0.2, 1, 5, 10]
    return s


def register(
    registry: kopf.OperatorRegistry, reconciler: Reconciler, *, prefer_kubeconfig: bool = False
) -> None:
    """Attach the login and the event handlers of `reconciler` to `registry`."""

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> Any:
        # A kubeconfig named on the command line wins; else in-cluster first, as kopf does.
        logins = [kopf.login_with_service_account, kopf.login_with_kubeconfig]
        if prefer_kubeconfig:
            logins.reverse()
        info = next((i for login in logins if (i := login(**kwargs)) is not None), None)
        if info is not None:
            reconciler.credentials = info
            reconciler.logged_in.set()
        return info

    for plural in ALL_PLURALS:
        group, version = ("", "v1") if plural == "nodes" else (GROUP, VERSION)
        kopf.on.event(group, version, plural, registry=registry, id=f"observe-{plural}")(
            _observer(reconciler, plural)
        )


def _observer(reconciler: Reconciler, plural: str) -> Callable[..., Awaitable[None]]:
    # async: kopf runs a sync handler in a worker thread, where it would change the
    # snapshot while the loop iterates it ("dictionary changed size during iteration"
    # in `relist` at 1,000 Nodes) and set an asyncio.Event from outside its loop.
    async def on_event(*, event: kopf.RawEvent, **_: Any) -> None:
        reconciler.observe(plural, event.get("type"), event.get("object") or {})

    return on_event
