"""`netwright controller --metrics-port`: its counters move as it works, scraped over HTTP.

The controller runs as a subprocess against the session's API server (as in
test_controller.py, whose helpers this reuses); its `/metrics` is read with urllib and
compared with what the audit log says it wrote.
"""

from __future__ import annotations

import socket
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest
from test_controller import (
    Controller,
    add_node,
    audit_mark,
    create_spec,
    example_docs,
    items,
    quiet,
    wait_for,
    wipe,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from _apiserver import Client, ControlPlane


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    """`/metrics` as {sample with its labels: value}, e.g.
    `netwright_controller_reconciles_total{result="done"}`."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def total(samples: dict[str, float], name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    want = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(
        value
        for sample, value in samples.items()
        if sample.partition("{")[0] == name and all(w in sample for w in want)
    )


@pytest.fixture
def cluster(api: Client, installed_crds: dict[str, Any]) -> Iterator[Client]:
    del installed_crds
    wipe(api)
    yield api
    wipe(api)


def test_the_controller_serves_its_reconciles_and_writes(
    cluster: Client, control_plane: ControlPlane, tmp_path: Path
) -> None:
    port = free_port()
    controller = Controller(
        control_plane,
        "metrics",
        tmp_path / "controller.log",
        args=("--no-leader-election", "--metrics-port", str(port)),
    )
    try:
        controller.ready()
        before = scrape(port)
        assert total(before, "netwright_controller_api_writes_total") == 0
        mark = audit_mark(control_plane)
        spec, nodes = example_docs()
        create_spec(cluster, spec)
        for node in nodes:
            add_node(
                cluster,
                node["metadata"]["name"],
                node["status"]["addresses"][0]["address"],
                node["metadata"].get("labels"),
            )
        wait_for("a config per node", lambda: len(items(cluster, "nodenetworkconfigs")) == 3)
        writes = [w for w in quiet(control_plane, mark) if w[3].startswith("netwright-")]
        after = scrape(port)
    finally:
        controller.stop()

    assert total(after, "netwright_controller_reconciles_total", result="done") >= 1
    assert total(after, "netwright_controller_decision_seconds_count") >= 1
    # Every write the audit log saw from the controller, counted by verb and resource.
    assert total(after, "netwright_controller_api_writes_total") == len(writes), writes
    for verb, resource in {(w[0], w[1]) for w in writes}:
        expected = sum(1 for w in writes if (w[0], w[1]) == (verb, resource))
        got = total(after, "netwright_controller_api_writes_total", verb=verb, resource=resource)
        assert got == expected, (verb, resource, after)
    assert total(after, "netwright_controller_api_writes_total", resource="ipblocks") >= 3
    assert total(after, "netwright_controller_api_writes_total", resource="nodenetworkconfigs") == 3
    assert total(after, "netwright_controller_api_errors_total") == 0


def test_the_controller_answers_liveness_probes_on_its_health_port(
    cluster: Client, control_plane: ControlPlane, tmp_path: Path
) -> None:
    del cluster
    port = free_port()
    controller = Controller(
        control_plane,
        "health",
        tmp_path / "controller.log",
        args=("--no-leader-election", "--health-port", str(port)),
    )
    try:
        controller.ready()

        def answer() -> int | None:
            try:
                url = f"http://127.0.0.1:{port}/healthz"
                with urllib.request.urlopen(url, timeout=5) as resp:
                    return int(resp.status)
            except OSError:
                return None

        assert wait_for("/healthz", answer, 10) == 200
    finally:
        controller.stop()
