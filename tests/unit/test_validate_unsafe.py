"""`netwright validate` refuses specs that would break a node: valid means safe to apply.

One test per class of danger, each starting from the valid three-node spec of
`test_validate_rejects`, changing one thing, and asserting exit code 2 and the
exact problem line (file:line, Kind/name, field, message). The last tests check
the defensive refusals where render and plan make device names and file paths,
for specs that reach them without passing `validate`.
"""

from __future__ import annotations

import dataclasses
import textwrap
from typing import TYPE_CHECKING

import pytest
from test_plan_node import VXLAN, spec_and_blocks
from test_validate_rejects import BGP, NETWORK, NODES, run, write

from netwright.errors import ValidationError
from netwright.model.config import NodeFacts
from netwright.model.spec import Backend, BackendType
from netwright.plan import plan_node
from netwright.render import peers_of, render_node, under
from netwright.render.tunnels import tunnel_name
from netwright.validate.names import TUNNEL_PREFIXES

if TYPE_CHECKING:
    from pathlib import Path

BASE = {"nodes.yaml": NODES, "network.yaml": NETWORK, "bgp.yaml": BGP}


def refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], file: str, old: str, new: str
) -> list[str]:
    """The problem lines of the base spec with `old` replaced by `new` in `file`; exit 2."""
    assert old in BASE[file], f"test bug: {old!r} not in {file}"
    write(tmp_path, {**BASE, file: BASE[file].replace(old, new)})
    code, lines = run(tmp_path, capsys)
    assert code == 2, lines
    return lines


def accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], file: str, old: str, new: str
) -> None:
    assert old in BASE[file], f"test bug: {old!r} not in {file}"
    write(tmp_path, {**BASE, file: BASE[file].replace(old, new)})
    code, lines = run(tmp_path, capsys)
    assert code == 0, lines


def test_a_pool_holding_a_node_address_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = refused(tmp_path, capsys, "nodes.yaml", "172.31.255.12", "10.244.7.1")
    assert lines == [
        (
            "network.yaml:12: IPPool/pods-v4: spec.cidr: 10.244.0.0/16 contains Node/n2's address "
            "10.244.7.1, which would route the node's own underlay into pods; choose a cidr clear "
            "of every node address, or list those addresses in spec.reserved"
        )
    ]


def test_a_pool_holding_many_node_addresses_is_one_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = refused(tmp_path, capsys, "network.yaml", "10.244.0.0/16", "172.31.0.0/16")
    assert lines == [
        (
            "network.yaml:12: IPPool/pods-v4: spec.cidr: 172.31.0.0/16 contains Node/n1's address "
            "172.31.255.11 (and 2 more nodes' addresses), which would route the node's own underlay "
            "into pods; choose a cidr clear of every node address, or list those addresses in "
            "spec.reserved"
        )
    ]


def test_a_node_address_in_a_reserved_range_is_safe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path,
        {
            **BASE,
            "nodes.yaml": NODES.replace("172.31.255.12", "10.244.255.12"),
            "network.yaml": NETWORK.replace(
                "blockSize: 24\n", "blockSize: 24\n  reserved: [10.244.255.0/24]\n"
            ),
        },
    )
    code, lines = run(tmp_path, capsys)
    assert code == 0, lines


V4_SPECIAL = "0.0.0.0, 127.0.0.0/8, 169.254.0.0/16, 224.0.0.0/4 and 255.255.255.255"
V6_SPECIAL = "::, ::1, ::ffff:0:0/96, fe80::/10 and ff00::/8"


SPECIAL_CASES = [
    (
        "0.0.0.0/16",
        24,
        f"0.0.0.0/16 overlaps 0.0.0.0/32 (the unspecified address); pod addresses must be unicast addresses clear of {V4_SPECIAL}",
    ),
    (
        "127.0.0.0/16",
        24,
        f"127.0.0.0/16 overlaps 127.0.0.0/8 (loopback); pod addresses must be unicast addresses clear of {V4_SPECIAL}",
    ),
    (
        "169.254.0.0/20",
        24,
        f"169.254.0.0/20 overlaps 169.254.0.0/16 (link-local); pod addresses must be unicast addresses clear of {V4_SPECIAL}",
    ),
    (
        "224.0.0.0/16",
        24,
        f"224.0.0.0/16 overlaps 224.0.0.0/4 (multicast); pod addresses must be unicast addresses clear of {V4_SPECIAL}",
    ),
    (
        "255.255.0.0/16",
        24,
        f"255.255.0.0/16 overlaps 255.255.255.255/32 (the limited broadcast address); pod addresses must be unicast addresses clear of {V4_SPECIAL}",
    ),
    # overlapping, not only inside: a pool around a special range is refused too
    (
        "126.0.0.0/7",
        24,
        f"126.0.0.0/7 overlaps 127.0.0.0/8 (loopback); pod addresses must be unicast addresses clear of {V4_SPECIAL}",
    ),
    (
        "0.0.0.0/0",
        24,
        "0.0.0.0/0 is the whole IPv4 address space, which would route every destination into pods; use a private range such as 10.244.0.0/16",
    ),
    (
        "::/0",
        64,
        "::/0 is the whole IPv6 address space, which would route every destination into pods; use a private range such as fd00:10:244::/56",
    ),
    (
        "::/64",
        80,
        f"::/64 overlaps ::/128 (the unspecified address); pod addresses must be unicast addresses clear of {V6_SPECIAL}",
    ),
    (
        "::ffff:0:0/112",
        120,
        f"::ffff:0:0/112 overlaps ::ffff:0:0/96 (IPv4-mapped); pod addresses must be unicast addresses clear of {V6_SPECIAL}",
    ),
    (
        "fe80::/64",
        80,
        f"fe80::/64 overlaps fe80::/10 (link-local); pod addresses must be unicast addresses clear of {V6_SPECIAL}",
    ),
    (
        "ff00::/16",
        64,
        f"ff00::/16 overlaps ff00::/8 (multicast); pod addresses must be unicast addresses clear of {V6_SPECIAL}",
    ),
]


@pytest.mark.parametrize(
    ("cidr", "block", "message"), SPECIAL_CASES, ids=[c[0] for c in SPECIAL_CASES]
)
def test_a_pool_over_a_special_range_is_refused(
    cidr: str, block: int, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = NETWORK.replace("cidr: 10.244.0.0/16", f"cidr: {cidr}").replace(
        "blockSize: 24", f"blockSize: {block}"
    )
    write(tmp_path, {**BASE, "network.yaml": spec})
    code, lines = run(tmp_path, capsys)
    assert code == 2, lines
    problems = [line for line in lines if "spec.cidr" in line]
    assert problems[0] == f"network.yaml:12: IPPool/pods-v4: spec.cidr: {message}", lines
    assert len(problems) == 1 or "contains Node/" in problems[1], lines


@pytest.mark.parametrize("cidr", ["240.0.0.0/16", "100.64.0.0/16", "0.1.0.0/16", "fd00::/48"])
def test_unicast_ranges_outside_the_special_ones_stay_valid(
    cidr: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    block = "blockSize: 64" if ":" in cidr else "blockSize: 24"
    write(
        tmp_path,
        {
            **BASE,
            "network.yaml": NETWORK.replace("cidr: 10.244.0.0/16", f"cidr: {cidr}").replace(
                "blockSize: 24", block
            ),
        },
    )
    code, lines = run(tmp_path, capsys)
    assert code == 0, lines


RULE = (
    "a device name is 1 to 15 bytes without '/', ':', '%' or whitespace, "
    "and not '.', '..', 'all' or 'default'"
)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("'..'", f"'..' is a path component, which the kernel refuses; {RULE}"),
        ("'.'", f"'.' is a path component, which the kernel refuses; {RULE}"),
        (
            "all",
            f"'all' is the name of sysctl's net.ipv4.conf.all directory, which the kernel refuses; {RULE}",
        ),
        (
            "default",
            f"'default' is the name of sysctl's net.ipv4.conf.default directory, which the kernel refuses; {RULE}",
        ),
    ],
)
def test_a_bridge_name_the_kernel_refuses_is_refused(
    name: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = refused(
        tmp_path,
        capsys,
        "network.yaml",
        "type: bridge\n",
        f"type: bridge\n  bridge: {{name: {name}}}\n",
    )
    assert lines == [f"network.yaml:21: Network/podnet: spec.bridge.name: {message}"]


@pytest.mark.parametrize(
    ("name", "owner"),
    [
        ("lo", "the kernel's loopback device"),
        ("tunl0", "the kernel's ipip fallback device"),
        ("nwvx.1", "in netwright's tunnel device names (nwvx.*, nwip.*, nwwg.*)"),
        ("nwwg.cafe", "in netwright's tunnel device names (nwvx.*, nwip.*, nwwg.*)"),
    ],
)
def test_a_bridge_name_taken_by_another_device_is_refused(
    name: str, owner: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = refused(
        tmp_path,
        capsys,
        "network.yaml",
        "type: bridge\n",
        f"type: bridge\n  bridge: {{name: {name}}}\n",
    )
    assert lines == [
        (
            f"network.yaml:21: Network/podnet: spec.bridge.name: {name} is {owner}; "
            "name the bridge something else, such as cni0"
        )
    ]


def test_every_derived_tunnel_name_is_reserved() -> None:
    """Bridges may not start with TUNNEL_PREFIXES: that must cover every name render derives."""
    for kind in BackendType:
        name = tunnel_name(Backend(name="any", type=kind))
        if kind in (BackendType.VXLAN, BackendType.IPIP, BackendType.WIREGUARD):
            assert name.startswith(TUNNEL_PREFIXES), name
            assert len(name.encode()) <= 15, name


@pytest.mark.parametrize("name", ["../../etc/evil", "a/b", ".."])
def test_a_network_name_that_climbs_out_of_the_root_is_refused(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = refused(tmp_path, capsys, "network.yaml", "name: podnet", f"name: '{name}'")
    assert lines == [
        (
            f"network.yaml:18: Network/{name}: metadata.name: `{name}` is not a valid name: a "
            "lowercase DNS subdomain of at most 253 characters (a-z, 0-9, `-` and `.`, starting and "
            "ending with a letter or digit)"
        )
    ]


def test_plan_refuses_a_conflist_path_outside_the_root() -> None:
    """A Network that reached plan without validate cannot write outside `--root`."""
    spec, blocks = spec_and_blocks(VXLAN)
    evil = dataclasses.replace(spec.networks[0], name="../../../etc/cron.d/x")
    spec = dataclasses.replace(spec, networks=(evil,))
    facts = NodeFacts(root="/srv/nodes/n1")
    config = render_node(spec, "n1", blocks, facts)
    with pytest.raises(ValidationError) as caught:
        plan_node(config, peers_of(spec, blocks, "n1"), facts)
    assert str(caught.value) == (
        "Network/../../../etc/cron.d/x: metadata.name: '10-../../../etc/cron.d/x.conflist' is "
        "not a plain file name: it would land outside the node's directory"
    )


def test_paths_below_the_root_never_climb_out() -> None:
    assert under("/srv/n1", "etc/cni/net.d/10-podnet.conflist") == (
        "/srv/n1/etc/cni/net.d/10-podnet.conflist"
    )
    with pytest.raises(ValidationError, match=r"would land outside the node's root /srv/n1$"):
        under("/srv/n1", "etc/cni/net.d/../../../x")


@pytest.mark.parametrize(
    ("bridge", "underlay", "message"),
    [
        (
            "eth0",
            "eth0",
            "eth0 is the node's underlay device, which holds its address; name the bridge something else, such as cni0",
        ),
        (
            "lo",
            "eth0",
            "lo is the kernel's loopback device; name the bridge something else, such as cni0",
        ),
        ("a/b", "eth0", f"'a/b' contains '/', which the kernel refuses; {RULE}"),
        (
            "br-0123456789abc",
            "eth0",
            f"'br-0123456789abc' is 16 bytes long, which the kernel refuses; {RULE}",
        ),
    ],
)
def test_render_refuses_a_bridge_name_that_breaks_the_node(
    bridge: str, underlay: str, message: str
) -> None:
    """The underlay is known only on the node; the rest is render's second line of defence."""
    spec, blocks = spec_and_blocks(VXLAN)
    network = dataclasses.replace(spec.networks[0], bridge_name=bridge)
    spec = dataclasses.replace(spec, networks=(network,))
    with pytest.raises(ValidationError) as caught:
        render_node(spec, "n1", blocks, NodeFacts(underlay_dev=underlay))
    assert str(caught.value) == f"Network/podnet: spec.bridge.name: {message}"


V6_NETWORK = NETWORK.replace("cidr: 10.244.0.0/16", "cidr: fd00:10:244::/56").replace(
    "blockSize: 24", "blockSize: 64"
)


def test_an_ipv6_network_below_the_ipv6_minimum_mtu_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path,
        {
            **BASE,
            "network.yaml": V6_NETWORK.replace("type: bridge\n", "type: bridge\n  mtu: 1200\n"),
        },
    )
    code, lines = run(tmp_path, capsys)
    assert code == 2, lines
    assert lines == [
        (
            "network.yaml:21: Network/podnet: spec.mtu: 1200 is below 1280, the IPv6 minimum, and "
            "IPPool/pods-v4 is IPv6: the kernel drops IPv6 from such a link, gateway included; use "
            "1280 or more, or auto"
        )
    ]
    # an IPv4 network may go lower (to 68)
    accepted(tmp_path, capsys, "network.yaml", "type: bridge\n", "type: bridge\n  mtu: 1200\n")


def test_a_vxlan_port_of_a_node_service_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = refused(tmp_path, capsys, "network.yaml", "vni: 1}", "vni: 1, port: 68}")
    assert lines == [
        (
            "network.yaml:6: Backend/overlay: spec.vxlan.port: UDP port 68 is the node's own DHCP "
            "port: the VTEP's socket would take it from the node's service, or fail to come up; "
            "use 8472 (the default) or 4789"
        )
    ]
    # BGP is TCP 179: a VXLAN (UDP) socket on 179 meets nothing of BIRD's
    accepted(tmp_path, capsys, "network.yaml", "vni: 1}", "vni: 1, port: 179}")


@pytest.mark.parametrize(
    ("peer_ip", "message"),
    [
        (
            "172.31.255.12",
            "172.31.255.12 is Node/n2's address: that node would peer with itself and the others would hold two sessions to one neighbour; select cluster nodes with spec.peerSelector instead",
        ),
        (
            "fe80::1",
            "fe80::1 is in fe80::/10 (link-local), where BIRD cannot open a session; a peer needs a unicast address",
        ),
        (
            "0.0.0.0",
            "0.0.0.0 is in 0.0.0.0/32 (the unspecified address), where BIRD cannot open a session; a peer needs a unicast address",
        ),
        (
            "224.0.0.5",
            "224.0.0.5 is in 224.0.0.0/4 (multicast), where BIRD cannot open a session; a peer needs a unicast address",
        ),
    ],
)
def test_a_bgp_peer_address_that_breaks_sessions_is_refused(
    peer_ip: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = refused(
        tmp_path, capsys, "bgp.yaml", "peerIP: 172.31.255.1\n", f"peerIP: '{peer_ip}'\n"
    )
    assert lines == [f"bgp.yaml:5: BGPPeer/tor-a: spec.peerIP: {message}"]


def test_a_local_bgp_speaker_on_loopback_stays_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    accepted(tmp_path, capsys, "bgp.yaml", "peerIP: 172.31.255.1\n", "peerIP: 127.0.0.1\n")


def test_every_problem_of_the_class_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = (
        NETWORK.replace("vni: 1}", "vni: 1, port: 53}").replace(
            "type: bridge\n", "type: bridge\n  bridge: {name: lo}\n"
        )
        + "---\n"
        + textwrap.dedent(
            """\
        apiVersion: netwright.io/v1alpha1
        kind: IPPool
        metadata: {name: loop}
        spec: {cidr: 127.1.0.0/16, blockSize: 24, backend: overlay}
        """
        )
    )
    write(tmp_path, {**BASE, "network.yaml": bad})
    code, lines = run(tmp_path, capsys)
    assert code == 2
    assert [line.split(": ")[1:3] for line in lines] == [
        ["Backend/overlay", "spec.vxlan.port"],
        ["Network/podnet", "spec.bridge.name"],
        ["IPPool/loop", "spec.cidr"],
    ], lines
