"""`netwright allocate` and `render` as a user runs them, on a copy of an example directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from netwright.cli import main

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    root = tmp_path / "spec"
    shutil.copytree(EXAMPLES / "vxlan", root)
    (root / "ipblocks.yaml").unlink()
    return root


def blocks_in(root: Path) -> dict[str, str]:
    docs = list(yaml.safe_load_all((root / "ipblocks.yaml").read_text()))
    return {d["spec"]["node"]: d["spec"]["cidr"] for d in docs if d}


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def add_node(root: Path, name: str, address: str) -> None:
    with (root / "nodes.yaml").open("a") as stream:
        stream.write(
            f"---\napiVersion: v1\nkind: Node\nmetadata: {{name: {name}}}\n"
            f"status: {{addresses: [{{type: InternalIP, address: {address}}}]}}\n"
        )


def test_write_allocates_then_changes_nothing(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(spec)
    assert main(["allocate", str(spec), "--write"]) == 0
    assert "3 blocks (3 added, 0 freed)" in capsys.readouterr().out
    after = snapshot(spec)
    assert set(after) - set(before) == {"ipblocks.yaml"}, "no other file is ever written"
    assert {k: v for k, v in after.items() if k != "ipblocks.yaml"} == before
    assert blocks_in(spec) == {"n1": "10.244.1.0/24", "n2": "10.244.2.0/24", "n3": "10.244.3.0/24"}
    assert main(["validate", str(spec)]) == 0, "what allocate writes validates"
    capsys.readouterr()
    mtime = (spec / "ipblocks.yaml").stat().st_mtime_ns
    assert main(["allocate", str(spec), "--write"]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert (spec / "ipblocks.yaml").stat().st_mtime_ns == mtime, (
        "an unchanged file is not rewritten"
    )


def test_join_and_leave_keep_every_other_block(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["allocate", str(spec), "--write"]) == 0
    nodes = (spec / "nodes.yaml").read_text().split("---\n")
    (spec / "nodes.yaml").write_text("---\n".join(n for n in nodes if "name: n2\n" not in n))
    add_node(spec, "n4", "172.31.255.14")
    add_node(spec, "n5", "172.31.255.15")
    capsys.readouterr()
    assert main(["allocate", str(spec), "--write"]) == 0
    assert "4 blocks (2 added, 1 freed)" in capsys.readouterr().out
    assert blocks_in(spec) == {
        "n1": "10.244.1.0/24",
        "n3": "10.244.3.0/24",
        "n4": "10.244.2.0/24",  # the lowest free block: n2's, freed
        "n5": "10.244.4.0/24",
    }


def test_out_of_space_is_exit_2_and_writes_nothing(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (spec / "network.yaml").read_text().replace("10.244.0.0/16", "10.244.0.0/23")
    text = text.replace("reserved: [10.244.0.0/24]", "reserved: []")
    (spec / "network.yaml").write_text(text)
    assert main(["allocate", str(spec), "--write"]) == 2
    err = capsys.readouterr().err
    assert "IPPool/pods-v4" in err
    assert "give 2 usable blocks, but 3 nodes are selected" in err
    assert not (spec / "ipblocks.yaml").exists()


def test_render_follows_the_underlay_mtu(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(spec), "--node", "n2", "--underlay-mtu", "9000", "-o", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "NodeNetworkConfig"
    assert doc["metadata"]["name"] == "n2"
    (conflist,) = doc["spec"]["conflists"]
    bridge = conflist["config"]["plugins"][0]
    assert bridge["mtu"] == 9000 - 50, "vxlan over IPv4 costs 50 bytes"
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.244.2.0/24", "gateway": "10.244.2.1"}]]
    (tunnel,) = doc["spec"]["tunnels"]
    assert tunnel["mtu"] == 8950
    assert tunnel["mac"] == "0e:6e:ac:1f:ff:0c", "0e:6e: + 172.31.255.12"


def test_render_of_an_unknown_node_is_exit_2(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", str(spec), "--node", "n9"]) == 2
    err = capsys.readouterr().err
    assert "Node/n9" in err
    assert "n1, n2, n3" in err
