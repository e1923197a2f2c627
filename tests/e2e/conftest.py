"""Whole labs for the end-to-end tests: one per backend, shared by the tests of that backend.

Each lab is built with the real command line (`python -m netwright.cli lab up`) under
a name unique to this test run, and always removed in a finalizer, whatever the
tests did. Results are checked with iproute2 and /proc, never with the lab's code.

Every test here is marked `e2e`, and skipped (never failed) unless running as root
with the CNI plugins and BIRD installed.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import pytest
from _lab import BACKENDS, Lab, lab_name, missing_requirements, netwright, root_snapshot

if TYPE_CHECKING:
    from collections.abc import Iterator


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    why = missing_requirements()
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.e2e)
            if why:
                item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture(scope="session", params=BACKENDS)
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    backend: str = request.param
    why = missing_requirements()
    if why:
        pytest.skip(why)
    name = lab_name(backend[0])
    before = root_snapshot()
    try:
        up = netwright("lab", "up", "--backend", backend, "--name", name)
        if up.returncode != 0:
            pytest.fail(
                f"lab up --backend {backend}: exit {up.returncode}\n{up.stdout}\n{up.stderr}"
            )
        status = json.loads(
            netwright("lab", "status", "--name", name, "-o", "json", check=True).stdout
        )
        yield Lab(name=name, backend=backend, up=up, root_before=before, status=status)
    finally:
        netwright("lab", "down", "--name", name)  # always; a no-op when a test already did it
