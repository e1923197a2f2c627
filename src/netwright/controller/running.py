"""`netwright controller`: run the kopf operator with the controller's handlers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import TYPE_CHECKING

import kopf

from netwright.controller.handlers import register, settings
from netwright.controller.reconciling import Reconciler

if TYPE_CHECKING:
    import argparse


async def serve(*, identity: str, resync: float) -> None:
    """Until SIGTERM or SIGINT: kopf watches, the reconciler decides and writes."""
    reconciler = Reconciler(identity=identity, resync=resync)
    registry = kopf.OperatorRegistry()
    register(registry, reconciler)
    loop = asyncio.create_task(reconciler.run(), name="netwright-reconciler")
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
        if loop.done() and not loop.cancelled() and loop.exception() is not None:
            raise loop.exception()  # type: ignore[misc]


def run(args: argparse.Namespace) -> int:
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
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
