# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Fixtures shared by the collection's unit tests: example spec copies and module runs."""

from __future__ import annotations

import contextlib
import json
import os
import shutil

import pytest

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core before 2.19
    from ansible.module_utils import basic
    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager
    def patch_module_args(args=None):
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved


def example_dir(name):
    """A spec directory shipped inside the netwright package (the same as examples/)."""
    netwright = pytest.importorskip("netwright")
    return os.path.join(os.path.dirname(netwright.__file__), "data", "examples", name)


@pytest.fixture
def spec_copy(tmp_path):
    """Copy a shipped example into a fresh directory; returns its path."""

    def copy(name="vxlan", *, blocks=True):
        target = tmp_path / name
        shutil.copytree(example_dir(name), target)
        if not blocks:
            (target / "ipblocks.yaml").unlink()
        return str(target)

    return copy


@pytest.fixture(autouse=True)
def _no_spec_cache(monkeypatch, tmp_path):
    """Keep netwright's spec cache inside the test's own directory."""
    monkeypatch.setenv("NETWRIGHT_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def run_module(capsys):
    """Run a module's `main` with `args` (and `_ansible_check_mode` etc.); return its result."""

    def run(module, args):
        with patch_module_args(args), pytest.raises(SystemExit):
            module.main()
        return json.loads(capsys.readouterr().out)

    return run
