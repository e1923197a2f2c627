"""Settings for the whole suite."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """netwright's on-disk cache goes to a directory of this run, never the user's."""
    path = tmp_path_factory.mktemp("netwright-cache")
    path.chmod(0o700)
    os.environ["NETWRIGHT_CACHE_DIR"] = str(path)
