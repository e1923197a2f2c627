"""`netwright controller`: run the kopf operator with the controller's handlers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from typing import TYPE_CHECKING

import kopf

from netwright.controller.handlers import register, settings
from netwright.controller.reconciling import Reconciler

if TYPE_CHECKING:
    import argparse


async def serve(*, identity: str, resync: float) -> None:
    """Until SIGTERM or SIGINT: kopf watches, the reconciler decides and writes.

    The reconciler retries what the API refuses for a while; should it end anyway, the
    operator stops too (a controller that only watches would look alive and do nothing).
    """
    reconciler = Reconciler(identity=identity, resync=resync)
    registry = kopf.OperatorRegistry()
    register(registry, reconciler)
    loop = asyncio.create_task(reconciler.run(), name="netwright-reconciler")
    loop.add_done_callback(_stop_operator)
    try:
        await kopf.operator(
            registry=registry,
            settings=settings(),
            clusterwide=True,
            standalone=True,
        )
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop


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
        "netwright controller %s starting%s",
        identity,
        ""
        if args.no_leader_election
        else " (leader election is not implemented yet: acting at once, as every replica may)",
    )
    asyncio.run(serve(identity=identity, resync=args.resync_interval))
    return 0
