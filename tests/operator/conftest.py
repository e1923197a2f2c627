"""A real kube-apiserver and etcd for the operator tests, once per test session.

Started from `KUBEBUILDER_ASSETS` (the directory controller-runtime's envtest reads;
`../shared/envtest/setup` prints one), in a fresh data directory on free loopback
ports, and stopped by pid with the directory removed at the end of the session,
whatever the tests did. Where the variable is unset every test here is skipped with
that reason, so that everyone else still runs the rest of the suite.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from _apiserver import ASSETS_VARIABLE, SKIP_REASON, ApiError, Client, ControlPlane

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

REPO = Path(__file__).parents[2]
CRDS = REPO / "crds"
HERE = Path(__file__).parent


_STARTUP: list[float] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _STARTUP:
        terminalreporter.write_line(
            f"kube-apiserver + etcd: ready in {_STARTUP[0]:.1f} s (KUBEBUILDER_ASSETS)"
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder carries the `operator` marker."""
    for item in items:
        if Path(str(item.path)).is_relative_to(HERE):
            item.add_marker(pytest.mark.operator)


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    """etcd + kube-apiserver, up and ready (`/readyz`), with a kubeconfig written."""
    assets = os.environ.get(ASSETS_VARIABLE)
    if not assets:
        pytest.skip(SKIP_REASON)
    started = time.monotonic()
    plane = ControlPlane.start(assets)
    plane.startup_seconds = time.monotonic() - started
    _STARTUP.append(plane.startup_seconds)
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def api(control_plane: ControlPlane) -> Client:
    return control_plane.client()


def crd_documents() -> list[dict[str, Any]]:
    docs = []
    for file in sorted(CRDS.glob("*.yaml")):
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
        if doc.get("kind") == "CustomResourceDefinition":
            docs.append(doc)
    return docs


CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def wait_established(api: Client, name: str, timeout: float = 30) -> dict[str, Any]:
    """The CRD once its Established condition is True (and its names accepted)."""
    deadline = time.monotonic() + timeout
    while True:
        crd = api.get(f"{CRD_PATH}/{name}")
        conditions = {c["type"]: c["status"] for c in crd.get("status", {}).get("conditions", [])}
        if conditions.get("Established") == "True" and conditions.get("NamesAccepted") == "True":
            return crd
        if time.monotonic() > deadline:
            raise TimeoutError(f"CRD {name} not Established: {crd.get('status')}")
        time.sleep(0.05)


def wait_served(api: Client, plural: str, timeout: float = 30) -> None:
    """Until the new resource answers a list (the first read may be a 429 while its
    storage initialises, or a 404 until discovery has it)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            api.get(f"/apis/netwright.io/v1alpha1/{plural}", query={"limit": "1"})
        except ApiError as exc:
            if exc.code not in (404, 429, 503) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        else:
            return


@pytest.fixture(scope="session")
def installed_crds(api: Client) -> dict[str, dict[str, Any]]:
    """Every CRD in crds/ applied to the server and Established: kind -> CRD."""
    installed: dict[str, dict[str, Any]] = {}
    for crd in crd_documents():
        name = crd["metadata"]["name"]
        try:
            api.post(CRD_PATH, crd)
        except ApiError as exc:
            if exc.code != 409:
                raise
            current = api.get(f"{CRD_PATH}/{name}")
            api.put(f"{CRD_PATH}/{name}", {**crd, "metadata": current["metadata"]})
        installed[crd["spec"]["names"]["kind"]] = crd
    for crd in installed.values():
        wait_established(api, crd["metadata"]["name"])
        wait_served(api, crd["spec"]["names"]["plural"])
    return installed


@pytest.fixture
def fresh_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """A factory of object names unique to this test: `fresh_name("pool")`."""
    stem = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:30].strip("-")
    token = secrets.token_hex(3)

    def make(role: str) -> str:
        return f"{stem}-{token}-{role}"[:63].strip("-")

    return make
