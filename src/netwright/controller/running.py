"""`netwright controller`: run the kopf operator with the controller's handlers."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from typing import TYPE_CHECKING

import kopf

from netwright._kube import Client, credentials_missing, liveness_endpoint
from netwright.controller.electing import LEASE_NAME, Elector
from netwright.controller.handlers import register, settings
from netwright.controller.reconciling import Reconciler
from netwright.errors import NetwrightError

if TYPE_CHECKING:
    import argparse


async def serve(
    *,
    identity: str,
    resync: float,
    lease_namespace: str | None = None,
    lease_duration: int = 15,
    prefer_kubeconfig: bool = False,
    metrics_port: int = 0,
    health_port: int = 0,
) -> bool:
    """Until SIGTERM or SIGINT: kopf watches, the reconciler decides and writes. False
    when the controller's own loop ended it (logged).

    The reconciler retries what the API refuses for a while; should it end anyway, the
    operator stops too (a controller that only watches would look alive and do nothing).
    """
    elector = (
        None
        if lease_namespace is None
        else Elector(identity=identity, namespace=lease_namespace, duration=lease_duration)
    )
    metrics = None
    if metrics_port:
        from netwright._metrics import serve as serve_metrics  # noqa: PLC0415
        from netwright.controller._metrics import ControllerMetrics  # noqa: PLC0415

        metrics = ControllerMetrics()
        server = serve_metrics(metrics.registry, metrics_port)
        logging.getLogger("netwright.controller").info(
            "metrics on port %d (/metrics)", server.server_port
        )
    reconciler = Reconciler(
        identity=identity,
        resync=resync,
        leading=None if elector is None else elector.leading,
        metrics=metrics,
    )
    registry = kopf.OperatorRegistry()
    register(registry, reconciler, prefer_kubeconfig=prefer_kubeconfig)
    # Both tasks exist before kopf starts: kopf waits for tasks started under it on exit.
    tasks = [asyncio.create_task(reconciler.run(), name="netwright-reconciler")]
    if elector is not None:
        tasks.append(asyncio.create_task(_elect(reconciler, elector), name="netwright-lease"))
    for task in tasks:
        task.add_done_callback(_stop_operator)
    try:
        await kopf.operator(
            registry=registry,
            settings=settings(),
            clusterwide=True,
            standalone=True,
            liveness_endpoint=liveness_endpoint(health_port),
        )
    finally:
        crashed = any(t.done() and not t.cancelled() and t.exception() is not None for t in tasks)
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)  # (an exception was logged by _stop_operator)
    return not crashed


async def _elect(reconciler: Reconciler, elector: Elector) -> None:
    await reconciler.logged_in.wait()
    metrics = reconciler.metrics
    observe = None if metrics is None else metrics.api.observe
    async with Client(
        reconciler.credentials, component="controller", identity=elector.identity, observe=observe
    ) as api:
        await elector.run(api)


def _stop_operator(task: asyncio.Task[None]) -> None:
    """The reconciler ended on its own: say why, and stop kopf as SIGTERM would.

    (Not kopf's `stop_flag`: waiting for it is a task of its own that a signal-driven
    stop leaves pending, and kopf then waits 5 s for it.)"""
    if task.cancelled():
        return
    logging.getLogger("netwright.controller").error(
        "the reconciler stopped: %s; stopping", task.exception()
    )
    signal.raise_signal(signal.SIGTERM)


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
    if (
        not args.verbose
    ):  # one line per watch event is kopf's INFO; the controller says what it does
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    identity = args.identity or f"{socket.gethostname()}-{os.getpid()}"
    logging.getLogger("netwright.controller").info(
        "netwright controller %s starting (%s)",
        identity,
        "no leader election: acting at once"
        if args.no_leader_election
        else f"leader election: Lease {args.lease_namespace}/{LEASE_NAME}",
    )
    ok = asyncio.run(
        serve(
            identity=identity,
            resync=args.resync_interval,
            lease_namespace=None if args.no_leader_election else args.lease_namespace,
            lease_duration=args.lease_duration,
            prefer_kubeconfig=bool(args.kubeconfig),
            metrics_port=args.metrics_port,
            health_port=args.health_port,
        )
    )
    return 0 if ok else 1
