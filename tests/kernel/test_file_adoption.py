"""A file exactly as netwright would write it, but not in netwright's state file (written
before records came first, or put in place by hand), is adopted: recorded, not written,
not a conflict; from then on netwright changes and removes it like its own.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from _netns import KERNEL

from netwright.engine import Target, run
from netwright.model.state import File, NodeState

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = KERNEL


def test_an_identical_file_is_adopted_then_owned(
    netns: Callable[[str], str], tmp_path: Path
) -> None:
    target = Target(netns=netns("n1"), root=str(tmp_path))
    path = tmp_path / "etc/cni/net.d/10-podnet.conflist"
    path.parent.mkdir(parents=True)
    path.write_text('{"name": "podnet"}\n')
    os.chmod(path, 0o644)
    inode = path.stat().st_ino
    state = NodeState(node="n1", files=(File(path=str(path), content='{"name": "podnet"}\n'),))

    report = run(state, target, check=False)
    assert report.ok, report.lines()
    assert [(c.kind, str(c.op), c.fields) for c in report.delta.changes] == [("file", "change", ())]
    assert f"file {path}: as netwright would write it; adopted" in report.delta.notes
    assert path.stat().st_ino == inode  # recorded, not rewritten
    recorded = json.loads((tmp_path / "var/lib/netwright/state.json").read_text())
    assert recorded["files"] == [str(path)]
    assert run(state, target, check=False).delta.empty

    # Now netwright's: a new content is written, not refused; gone from the spec, removed.
    changed = NodeState(node="n1", files=(File(path=str(path), content='{"name": "x"}\n'),))
    report = run(changed, target, check=False)
    assert report.ok, report.lines()
    assert path.read_text() == '{"name": "x"}\n'
    assert run(NodeState(node="n1"), target, check=False).ok
    assert not path.exists()
