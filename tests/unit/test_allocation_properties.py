"""Allocation properties, under any sequence of joins and leaves (hypothesis).

- never two overlapping blocks;
- never a block outside its pool, or overlapping `reserved`;
- an existing block never moves while its node stays;
- same input, same output.
"""

from __future__ import annotations

import ipaddress
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netwright.errors import AllocationError
from netwright.ipam import allocate
from netwright.model.spec import ClusterSpec, IPPool, Node, Selector

NODE_NAMES = [f"n{i}" for i in range(40)]


@st.composite
def pools(draw: st.DrawFn) -> IPPool:
    v6 = draw(st.booleans())
    if v6:
        prefix = draw(st.integers(min_value=56, max_value=120))
        block = draw(st.integers(min_value=prefix, max_value=min(prefix + 7, 126)))
        base = ipaddress.ip_network(f"fd00:{draw(st.integers(0, 0xFFFF)):x}::/32")
    else:
        prefix = draw(st.integers(min_value=16, max_value=28))
        block = draw(st.integers(min_value=prefix, max_value=min(prefix + 7, 30)))
        base = ipaddress.ip_network(f"10.{draw(st.integers(0, 255))}.0.0/16")
    cidr = next(base.subnets(new_prefix=prefix))
    reserved = []
    for _ in range(draw(st.integers(0, 3))):
        length = draw(st.integers(min_value=prefix, max_value=cidr.max_prefixlen))
        count = 1 << (length - prefix)
        index = draw(st.integers(0, min(count - 1, 1 << 20)))
        reserved.append(next(itertools.islice(cidr.subnets(new_prefix=length), index, None)))
    return IPPool(
        name="p",
        cidr=cidr,
        block_size=block,
        backend="b",
        reserved=tuple(reserved),
        disabled=draw(st.booleans()) and draw(st.booleans()),
    )


def nodes(names: list[str] | set[str]) -> tuple[Node, ...]:
    return tuple(
        Node(name=n, addresses=(ipaddress.ip_address(f"172.31.0.{i + 1}"),))
        for i, n in enumerate(sorted(names))
    )


def check_invariants(pool: IPPool, blocks) -> None:
    for b in blocks:
        assert b.cidr.subnet_of(pool.cidr)
        assert b.cidr.prefixlen == pool.block_size
        for r in pool.reserved:
            assert not b.cidr.overlaps(r), (b, r)
    for a, b in itertools.combinations(blocks, 2):
        assert not a.cidr.overlaps(b.cidr), (a, b)
    assert len({b.node for b in blocks}) == len(blocks)


@settings(max_examples=150, deadline=None)
@given(
    pool=pools(),
    steps=st.lists(st.sets(st.sampled_from(NODE_NAMES), max_size=25), min_size=1, max_size=6),
)
def test_joins_and_leaves_keep_blocks_in_place(pool: IPPool, steps: list[set[str]]) -> None:
    blocks: tuple = ()
    for members in steps:
        cluster = ClusterSpec(nodes=nodes(members), pools=(pool,), blocks=blocks)
        try:
            result = allocate(cluster)
        except AllocationError as exc:
            message = str(exc)
            assert "out of space" in message
            assert not pool.disabled
            continue
        again = allocate(
            ClusterSpec(nodes=tuple(reversed(nodes(members))), pools=(pool,), blocks=blocks)
        )
        assert again == result, "the same input (in any node order) gives the same output"
        check_invariants(pool, result.blocks)
        before = {b.node: b.cidr for b in blocks}
        after = {b.node: b.cidr for b in result.blocks}
        for node, cidr in before.items():
            if node in members:
                assert after[node] == cidr, f"{node}'s block moved"
            else:
                assert node not in after, f"{node} left but kept its block"
        if not pool.disabled:
            assert set(after) == members
        else:
            assert set(after) <= members
            assert not result.added
        blocks = result.blocks


def test_lowest_free_block_first() -> None:
    pool = IPPool(
        name="p",
        cidr=ipaddress.ip_network("10.244.0.0/16"),
        block_size=24,
        backend="b",
        reserved=(ipaddress.ip_network("10.244.0.0/24"), ipaddress.ip_network("10.244.2.128/25")),
    )
    result = allocate(ClusterSpec(nodes=nodes({"a", "b", "c"}), pools=(pool,)))
    assert [(b.node, str(b.cidr)) for b in result.blocks] == [
        ("a", "10.244.1.0/24"),
        ("b", "10.244.3.0/24"),
        ("c", "10.244.4.0/24"),
    ]
    # a leaves, d joins: d takes a's freed block, the others stay
    second = allocate(
        ClusterSpec(nodes=nodes({"b", "c", "d"}), pools=(pool,), blocks=result.blocks)
    )
    assert [(b.node, str(b.cidr)) for b in second.blocks] == [
        ("d", "10.244.1.0/24"),
        ("b", "10.244.3.0/24"),
        ("c", "10.244.4.0/24"),
    ]
    assert [b.node for b in second.freed] == ["a"]
    assert [b.node for b in second.added] == ["d"]


def test_node_selector_limits_the_pool() -> None:
    pool = IPPool(
        name="p",
        cidr=ipaddress.ip_network("fd00:10::/64"),
        block_size=122,
        backend="b",
        node_selector=Selector(match_labels=(("rack", "a"),)),
    )
    members = (
        Node(name="x", labels={"rack": "a"}, addresses=(ipaddress.ip_address("fd00::1"),)),
        Node(name="y", labels={"rack": "b"}, addresses=(ipaddress.ip_address("fd00::2"),)),
    )
    result = allocate(ClusterSpec(nodes=members, pools=(pool,)))
    assert [(b.node, str(b.cidr)) for b in result.blocks] == [("x", "fd00:10::/122")]


def test_out_of_space_names_pool_and_counts() -> None:
    pool = IPPool(
        name="tiny",
        cidr=ipaddress.ip_network("10.0.0.0/24"),
        block_size=26,
        backend="b",
        reserved=(ipaddress.ip_network("10.0.0.0/26"),),
    )
    with pytest.raises(AllocationError) as info:
        allocate(ClusterSpec(nodes=nodes({f"n{i}" for i in range(5)}), pools=(pool,)))
    text = str(info.value)
    assert "IPPool/tiny" in text
    assert "has 4 blocks of /26 (1 reserved), but 5 are needed" in text
