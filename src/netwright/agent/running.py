"""`netwright agent --node N`: the process around the agent's loop (kopf, metrics, probes).

kopf watches the kinds the agent needs with event handlers, which write nothing to what
they watch, and hands every event to `keeping.Agent`; this module logs in, serves the
metrics and the liveness probe, and ends the process (exit 1) if the agent's loop ends.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import TYPE_CHECKING, Any

import kopf

from netwright._kube import credentials_missing, liveness_endpoint
from netwright.agent.keeping import Agent
from netwright.documents import ALL_PLURALS
from netwright.engine import Target
from netwright.errors import NetwrightError
from netwright.provisioning import Options

if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable, Callable


logger = logging.getLogger("netwright.agent")
GROUP, VERSION = "netwright.io", "v1alpha1"


def _settings() -> kopf.OperatorSettings:
    s = kopf.OperatorSettings()
    s.posting.level = logging.WARNING
    s.peering.standalone = True
    s.queueing.idle_timeout = 0.5
    s.queueing.exit_timeout = 1.0
    return s


def _observer(agent: Agent, plural: str) -> Callable[..., Awaitable[None]]:
    # async: kopf runs a sync handler in a worker thread, where it would change the
    # snapshot while the loop iterates it and set an asyncio.Event from outside its loop.
    async def on_event(*, event: kopf.RawEvent, **_: Any) -> None:
        agent.observe(plural, event.get("type"), event.get("object") or {})

    return on_event


def register(
    registry: kopf.OperatorRegistry, agent: Agent, *, prefer_kubeconfig: bool = False
) -> None:
    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> Any:
        # A kubeconfig named on the command line wins; else in-cluster first, as kopf does.
        logins = [kopf.login_with_service_account, kopf.login_with_kubeconfig]
        if prefer_kubeconfig:
            logins.reverse()
        info = next((i for login in logins if (i := login(**kwargs)) is not None), None)
        if info is not None:
            agent.credentials = info
            agent.logged_in.set()
        return info

    for plural in ALL_PLURALS:
        group, version = ("", "v1") if plural == "nodes" else (GROUP, VERSION)
        kopf.on.event(group, version, plural, registry=registry, id=f"observe-{plural}")(
            _observer(agent, plural)
        )


def _stop_operator(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    logger.error("the agent's loop stopped: %s; stopping", task.exception())
    signal.raise_signal(signal.SIGTERM)


async def serve(agent: Agent, *, prefer_kubeconfig: bool = False, health_port: int = 0) -> bool:
    """Until SIGTERM or SIGINT; False when the agent's own loop ended it (logged)."""
    registry = kopf.OperatorRegistry()
    register(registry, agent, prefer_kubeconfig=prefer_kubeconfig)
    loop = asyncio.create_task(agent.run(), name="netwright-agent")
    loop.add_done_callback(_stop_operator)
    try:
        await kopf.operator(
            registry=registry,
            settings=_settings(),
            clusterwide=True,
            standalone=True,
            liveness_endpoint=liveness_endpoint(health_port),
        )
    finally:
        crashed = loop.done() and not loop.cancelled() and loop.exception() is not None
        loop.cancel()
        await asyncio.wait({loop})  # (its exception was logged by _stop_operator)
    return not crashed


def run(args: argparse.Namespace) -> int:
    why = credentials_missing(args.kubeconfig)
    if why is not None:
        raise NetwrightError(why)
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    metrics = None
    if args.metrics_port:
        from netwright._metrics import serve as serve_metrics  # noqa: PLC0415
        from netwright.agent._metrics import AgentMetrics  # noqa: PLC0415

        metrics = AgentMetrics()
        server = serve_metrics(metrics.registry, args.metrics_port)
        logger.info("metrics on port %d (/metrics)", server.server_port)
    agent = Agent(
        node=args.node,
        target=Target(netns=args.netns, root=args.root, proc_sys=args.proc_sys),
        options=Options(
            underlay_dev=args.underlay, underlay_mtu=args.underlay_mtu, wait_lock=args.wait_lock
        ),
        resync=args.resync_interval,
        metrics=metrics,
    )
    ok = asyncio.run(
        serve(agent, prefer_kubeconfig=bool(args.kubeconfig), health_port=args.health_port)
    )
    return 0 if ok else 1
