"""The metric helpers: API paths to few labels, counters that move as the audit log
counts, the per-process registries, the `/metrics` endpoint, and a lazy import."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from netwright._metrics import ApiMetrics, new_registry, resource_of, serve, verb_of
from netwright.agent._metrics import AgentMetrics
from netwright.agent.deciding import Outcome
from netwright.agent.keeping import Agent
from netwright.controller._metrics import ControllerMetrics
from netwright.engine import Target
from netwright.provisioning import Options

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

REPO = Path(__file__).parents[2]
NW = "/apis/netwright.io/v1alpha1"


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        ("/api/v1/nodes", "nodes"),
        ("/api/v1/nodes/n1", "nodes"),
        ("/api/v1/nodes/n1/status", "nodes/status"),
        (f"{NW}/ipblocks", "ipblocks"),
        (f"{NW}/ipblocks/pool-10-244-0-0-26", "ipblocks"),
        (f"{NW}/nodenetworkconfigs/n1/status", "nodenetworkconfigs/status"),
        ("/api/v1/namespaces/default/events", "events"),
        ("/api/v1/namespaces/kube-system/secrets/bgp", "secrets"),
        ("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/netwright", "leases"),
        ("/api/v1/namespaces", "namespaces"),
        ("/api/v1/namespaces/default", "namespaces"),
        ("/healthz", "other"),
    ],
)
def test_a_path_names_its_resource_never_the_object(path: str, resource: str) -> None:
    assert resource_of(path) == resource


def test_http_methods_are_named_as_the_audit_log_names_them() -> None:
    assert [verb_of(m) for m in ("GET", "POST", "PUT", "PATCH", "DELETE")] == [
        "get",
        "create",
        "update",
        "patch",
        "delete",
    ]


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else float(value)


def test_writes_errors_and_conflicts_are_counted_apart() -> None:
    registry = new_registry()
    api = ApiMetrics("t", registry)
    api.observe("GET", f"{NW}/ipblocks", 200)
    api.observe("POST", f"{NW}/ipblocks", 201)
    api.observe("POST", f"{NW}/ipblocks", 409)
    api.observe("PATCH", f"{NW}/ippools/p/status", 422)
    api.observe("DELETE", f"{NW}/ipblocks/b", 0)  # no answer at all
    assert _value(registry, "t_api_requests_total", verb="get", resource="ipblocks") == 1
    assert _value(registry, "t_api_writes_total", verb="get", resource="ipblocks") == 0
    assert _value(registry, "t_api_writes_total", verb="create", resource="ipblocks") == 2
    assert _value(registry, "t_api_writes_total", verb="patch", resource="ippools/status") == 1
    assert _value(registry, "t_api_conflicts_total", verb="create", resource="ipblocks") == 1
    assert (
        _value(registry, "t_api_errors_total", verb="create", resource="ipblocks", code="409") == 1
    )
    assert (
        _value(registry, "t_api_errors_total", verb="patch", resource="ippools/status", code="422")
        == 1
    )
    assert _value(registry, "t_api_errors_total", verb="delete", resource="ipblocks", code="0") == 1


def test_each_process_has_its_own_registry_and_names() -> None:
    one, two = ControllerMetrics(), ControllerMetrics()  # no "duplicated timeseries"
    one.reconciles.labels("done").inc()
    assert (
        one.registry.get_sample_value("netwright_controller_reconciles_total", {"result": "done"})
        == 1
    )
    assert (
        two.registry.get_sample_value("netwright_controller_reconciles_total", {"result": "done"})
        is None
    )
    agent = AgentMetrics()
    names = {m.name for m in agent.registry.collect()}
    assert {
        "netwright_agent_applies",
        "netwright_agent_apply_seconds",
        "netwright_agent_changes",
        "netwright_agent_drift_repaired",
        "netwright_agent_api_errors",
        "netwright_agent_api_conflicts",
    } <= names
    names = {m.name for m in one.registry.collect()}
    assert {
        "netwright_controller_reconciles",
        "netwright_controller_decision_seconds",
        "netwright_controller_api_writes",
        "netwright_controller_api_errors",
        "netwright_controller_api_conflicts",
    } <= names


def test_the_registry_is_served_at_metrics() -> None:
    metrics = AgentMetrics()
    metrics.drift_repaired.inc()
    server = serve(metrics.registry, 0, addr="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert "netwright_agent_drift_repaired_total 1.0" in text


def test_validate_does_not_import_prometheus_client() -> None:
    code = (
        "import sys; from netwright.cli import main; main(['validate', sys.argv[1]]);"
        "print('loaded=' + str('prometheus_client' in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(REPO / "examples" / "vxlan")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "loaded=False", result.stdout


def test_an_agent_counts_its_runs_changes_and_drift() -> None:
    metrics = AgentMetrics()
    agent = Agent(node="n1", target=Target(), options=Options(), resync=60.0, metrics=metrics)
    agent._count(Outcome(generation=1, ok=True, changes=5), 0.2)
    agent._count(Outcome(generation=1, ok=True, changes=1, drift=True), 0.1)
    agent._count(Outcome(generation=2, ok=False, invalid=True), 0.01)
    value = metrics.registry.get_sample_value
    assert value("netwright_agent_applies_total", {"result": "ok"}) == 2
    assert value("netwright_agent_applies_total", {"result": "invalid"}) == 1
    assert value("netwright_agent_apply_seconds_count") == 3
    assert value("netwright_agent_changes_total") == 6
    assert value("netwright_agent_drift_repaired_total") == 1
    assert value("netwright_agent_drift_changes_total") == 1
