"""The agent's Prometheus metrics, in its own registry (served on `--metrics-port`).

`netwright_agent_applies_total{result}`: provisioning runs, `result` `ok`, `failed` or
`invalid` (the documents it was given do not validate);
`netwright_agent_apply_seconds`: the time one run takes (observe, plan, apply; a histogram);
`netwright_agent_changes_total`: kernel and file changes made;
`netwright_agent_drift_repaired_total`: runs that repaired drift (changes made when
nothing the agent was given had changed); `netwright_agent_drift_changes_total`: the
changes those runs made;
`netwright_agent_bgp_sessions{state}`: the node's BGP sessions, `established` or
`other`, as BIRD reported them at the last run (bgp nodes only);
and the API counters of `netwright._metrics.ApiMetrics` under `netwright_agent_`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netwright._metrics import ApiMetrics, new_registry

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

PREFIX = "netwright_agent"
#: Seconds: a no-op resync of a small node (tens of ms) to thousands of routes.
APPLY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class AgentMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        from prometheus_client import Counter, Gauge, Histogram  # noqa: PLC0415

        self.registry = new_registry() if registry is None else registry
        self.applies = Counter(
            f"{PREFIX}_applies",
            "Provisioning runs, by result (ok, failed, invalid)",
            ["result"],
            registry=self.registry,
        )
        self.apply_seconds = Histogram(
            f"{PREFIX}_apply_seconds",
            "Time of one provisioning run: observe, plan, apply",
            buckets=APPLY_BUCKETS,
            registry=self.registry,
        )
        self.changes = Counter(
            f"{PREFIX}_changes", "Kernel and file changes made", registry=self.registry
        )
        self.drift_repaired = Counter(
            f"{PREFIX}_drift_repaired",
            "Runs that repaired drift (changes made with unchanged inputs)",
            registry=self.registry,
        )
        self.drift_changes = Counter(
            f"{PREFIX}_drift_changes",
            "Changes made by runs that repaired drift",
            registry=self.registry,
        )
        self.bgp_sessions = Gauge(
            f"{PREFIX}_bgp_sessions",
            "The node's BGP sessions as BIRD reports them, by state (established, other)",
            ["state"],
            registry=self.registry,
        )
        self.api = ApiMetrics(PREFIX, self.registry)
