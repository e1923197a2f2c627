"""The controller's Prometheus metrics, in its own registry (served on `--metrics-port`).

`netwright_controller_reconciles_total{result}`: passes of the reconcile loop, `result`
`done` (all written), `again` (a 409 or a contested block: decided again) or `failed`;
`netwright_controller_decision_seconds`: the time `deciding.decide` takes (a histogram);
`netwright_controller_decision_writes_total`: writes the decisions called for;
and the API counters of `netwright._metrics.ApiMetrics` under `netwright_controller_`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netwright._metrics import ApiMetrics, new_registry

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

PREFIX = "netwright_controller"
#: Seconds: from a few nodes (milliseconds) to 5,000 and more (about a second).
DECISION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ControllerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        from prometheus_client import Counter, Histogram  # noqa: PLC0415

        self.registry = new_registry() if registry is None else registry
        self.reconciles = Counter(
            f"{PREFIX}_reconciles",
            "Passes of the reconcile loop, by result (done, again, failed)",
            ["result"],
            registry=self.registry,
        )
        self.decision_seconds = Histogram(
            f"{PREFIX}_decision_seconds",
            "Time to decide (deciding.decide) over the whole snapshot",
            buckets=DECISION_BUCKETS,
            registry=self.registry,
        )
        self.decided_writes = Counter(
            f"{PREFIX}_decision_writes",
            "Writes the decisions called for",
            registry=self.registry,
        )
        self.api = ApiMetrics(PREFIX, self.registry)
