"""NAT outgoing: the nft table plan_node asks for, and proof that nft accepts it.

The syntax check runs the real `nft -c -f` (check only: nothing is committed)
inside a throwaway network namespace, as root; everyone else skips it.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest

from netwright.model.config import NatOutgoing, NodeConfig, NodeFacts
from netwright.model.state import NFT_FAMILY, NFT_TABLE
from netwright.plan import nat_table, plan_node

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

net = ipaddress.ip_network

POOLS = (net("10.96.0.0/16"), net("10.244.0.0/16"), net("fd10::/48"))

CASES = [
    pytest.param((net("10.244.0.0/16"),), POOLS, (4,), id="v4"),
    pytest.param((net("fd10::/48"),), POOLS, (6,), id="v6"),
    pytest.param((net("10.244.0.0/16"), net("fd10::/48")), POOLS, (4, 6), id="dual-stack"),
    pytest.param(
        (net("10.244.0.0/16"), net("10.245.0.0/16")),
        (net("10.244.0.0/16"), net("10.245.0.0/16")),
        (4,),
        id="two-pools-one-family",
    ),
]


@pytest.mark.parametrize(("sources", "exclude", "families"), CASES)
def test_nat_table(
    sources: tuple[ipaddress.IPv4Network, ...],
    exclude: tuple[ipaddress.IPv4Network, ...],
    families: tuple[int, ...],
) -> None:
    table = nat_table(NatOutgoing(sources=sources, exclude=exclude))
    assert table.key == (NFT_FAMILY, NFT_TABLE) == ("inet", "netwright")
    text = table.text
    assert text.startswith("table inet netwright {\n")
    assert "type nat hook postrouting priority srcnat; policy accept;" in text
    assert text.count("flags interval") == 2 * len(families)
    if 4 in families:
        assert "ip saddr @src4 ip daddr != @all4 masquerade" in text
    else:
        assert "@src4" not in text
    if 6 in families:
        assert "ip6 saddr @src6 ip6 daddr != @all6 masquerade" in text
    else:
        assert "@src6" not in text


def test_plan_node_carries_the_table_only_with_nat() -> None:
    bare = NodeConfig(node="n1", node_ip=ipaddress.ip_address("172.31.255.11"))
    assert plan_node(bare, [], NodeFacts()).nft is None
    nat = NatOutgoing(sources=(net("10.244.0.0/16"),), exclude=POOLS)
    with_nat = NodeConfig(node="n1", node_ip=ipaddress.ip_address("172.31.255.11"), nat=nat)
    assert plan_node(with_nat, [], NodeFacts()).nft == nat_table(nat)


@pytest.mark.kernel
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (nft -c talks to the kernel)")
@pytest.mark.skipif(shutil.which("nft") is None or shutil.which("ip") is None, reason="no nft/ip")
@pytest.mark.parametrize(("sources", "exclude", "families"), CASES)
def test_nft_accepts_the_table(
    tmp_path: Path,
    sources: tuple[ipaddress.IPv4Network, ...],
    exclude: tuple[ipaddress.IPv4Network, ...],
    families: tuple[int, ...],
    netns: Callable[[str], str],
) -> None:
    del families
    path = tmp_path / "netwright.nft"
    path.write_text(nat_table(NatOutgoing(sources=sources, exclude=exclude)).text)
    done = subprocess.run(
        ["ip", "netns", "exec", netns("nft"), "nft", "-c", "-f", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr + path.read_text()
