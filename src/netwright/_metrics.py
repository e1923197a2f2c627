"""Prometheus metrics: what the controller and the agent both need.

Why it exists: both processes count their API requests the same way (writes by verb and
resource, errors by code, a 409 apart because it means "another writer won", not a
fault) and serve their registry on `--metrics-port`. The front ends import no front end,
so the shared part lives here. `prometheus_client` is imported only when a process
builds its metrics (never by `validate`, `plan` or `apply`).

What it must not do: hold process-wide state. Each process (and each test) makes its own
`CollectorRegistry`, so two controllers in one interpreter never share a counter.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

#: HTTP method -> the Kubernetes verb the audit log names it by.
VERBS = {
    "GET": "get",
    "POST": "create",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}
WRITE_VERBS = frozenset({"create", "update", "patch", "delete"})

_PATH = re.compile(
    r"^/(?:api/v1|apis/[^/]+/[^/]+)"  # core or group/version
    r"(?:/namespaces/[^/]+)?"  # namespaced
    r"/(?P<resource>[^/?]+)"  # the plural
    r"(?:/[^/?]+(?:/(?P<sub>[^/?]+))?)?"  # a name, and a subresource
)


def verb_of(method: str) -> str:
    """The Kubernetes verb of an HTTP method ("POST" -> "create")."""
    return VERBS.get(method.upper(), method.lower())


def resource_of(path: str) -> str:
    """The resource an API path names, with its subresource: `ipblocks`,
    `nodenetworkconfigs/status`, `events`; `other` for anything else. Never the object's
    name: label values stay few at any cluster size."""
    match = _PATH.match(path)
    if match is None:
        return "other"
    resource = match["resource"]
    return f"{resource}/{match['sub']}" if match["sub"] else resource


class ApiMetrics:
    """Counters of one process's API requests: `observe(method, path, code)` after each.

    `<prefix>_api_requests_total{verb,resource}`: every request sent;
    `<prefix>_api_writes_total{verb,resource}`: those that write (create, update, patch,
    delete), successful or not, as the audit log counts them;
    `<prefix>_api_errors_total{verb,resource,code}`: answers of 400 and up, and `code="0"`
    for a request that got no answer (connection refused, timeout), 409 included;
    `<prefix>_api_conflicts_total{verb,resource}`: the 409s alone (another writer won).
    """

    def __init__(self, prefix: str, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter  # noqa: PLC0415

        labels = ["verb", "resource"]
        self.requests = Counter(
            f"{prefix}_api_requests", "API requests sent", labels, registry=registry
        )
        self.writes = Counter(
            f"{prefix}_api_writes",
            "API writes sent (create, update, patch, delete), successful or not",
            labels,
            registry=registry,
        )
        self.errors = Counter(
            f"{prefix}_api_errors",
            "API requests answered with an error (code 0: no answer at all)",
            [*labels, "code"],
            registry=registry,
        )
        self.conflicts = Counter(
            f"{prefix}_api_conflicts",
            "API requests answered 409 Conflict (another writer was first)",
            labels,
            registry=registry,
        )

    def observe(self, method: str, path: str, code: int) -> None:
        verb, resource = verb_of(method), resource_of(path)
        self.requests.labels(verb, resource).inc()
        if verb in WRITE_VERBS:
            self.writes.labels(verb, resource).inc()
        if code >= 400 or code == 0:
            self.errors.labels(verb, resource, str(code)).inc()
        if code == 409:
            self.conflicts.labels(verb, resource).inc()


def new_registry() -> CollectorRegistry:
    from prometheus_client import CollectorRegistry  # noqa: PLC0415

    return CollectorRegistry(auto_describe=True)


def serve(registry: CollectorRegistry, port: int, addr: str = "") -> Any:
    """Serve `registry` as `/metrics` on `port` (all addresses) in a daemon thread; the
    server, whose `server_port` is the port bound (`port=0` picks a free one: tests)."""
    from prometheus_client import start_http_server  # noqa: PLC0415

    server, _thread = start_http_server(port, addr=addr or "0.0.0.0", registry=registry)  # noqa: S104
    return server
