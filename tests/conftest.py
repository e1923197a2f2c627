"""Settings for the whole suite, and throwaway network namespaces for any test.

`netns`: unique names, always removed. Tests that use it need root and the real
kernel; everyone else gets a skip, never a failure. Results are checked with
`ip -json`, never with the code under test.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """netwright's on-disk cache goes to a directory of this run, never the user's."""
    path = tmp_path_factory.mktemp("netwright-cache")
    path.chmod(0o700)
    os.environ["NETWRIGHT_CACHE_DIR"] = str(path)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=False, capture_output=True, text=True)


@pytest.fixture
def netns() -> Iterator[Callable[[str], str]]:
    """A factory: `netns("node")` makes `nwt-<pid>-<random>-node` with `lo` up.

    Every namespace it made is deleted at teardown, whatever the test did; a
    namespace that outlives `ip netns del` (a process still inside) is reported.
    """
    if os.geteuid() != 0:
        pytest.skip("kernel tests need root")
    if shutil.which("ip") is None:
        pytest.skip("iproute2 (`ip`) is not installed")
    made: list[str] = []
    prefix = f"nwt-{os.getpid()}-{secrets.token_hex(3)}"

    def make(role: str) -> str:
        name = f"{prefix}-{role}"
        result = _run("ip", "netns", "add", name)
        if result.returncode != 0:
            pytest.fail(f"ip netns add {name}: {result.stderr.strip()}")
        made.append(name)
        _run("ip", "-n", name, "link", "set", "lo", "up")
        return name

    try:
        yield make
    finally:
        leftovers = []
        for name in reversed(made):
            pids = _run("ip", "netns", "pids", name).stdout.split()
            if pids:
                leftovers.append(f"{name}: pids {' '.join(pids)}")
            _run("ip", "netns", "del", name)
        if leftovers:
            pytest.fail("processes kept namespaces alive: " + "; ".join(leftovers))
