"""`netwright validate` rejects every class of mistake with one line per problem.

Each case starts from a valid three-node spec directory, changes one thing, and
asserts the exact problem lines (file:line, Kind/name, field, message), the exit
code 2, and that a BGP password never appears in the output.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from netwright.cli import main

PASSWORD = "s3cr3t-do-not-print"

NODES = textwrap.dedent(
    """\
    apiVersion: v1
    kind: Node
    metadata:
      name: n1
      labels: {rack: a}
    status:
      addresses: [{type: InternalIP, address: 172.31.255.11}]
    ---
    apiVersion: v1
    kind: Node
    metadata:
      name: n2
      labels: {rack: a}
    status:
      addresses: [{type: InternalIP, address: 172.31.255.12}]
    ---
    apiVersion: v1
    kind: Node
    metadata:
      name: n3
      labels: {rack: b}
    status:
      addresses: [{type: InternalIP, address: 172.31.255.13}]
    """
)

NETWORK = textwrap.dedent(
    """\
    apiVersion: netwright.io/v1alpha1
    kind: Backend
    metadata: {name: overlay}
    spec:
      type: vxlan
      vxlan: {vni: 1}
    ---
    apiVersion: netwright.io/v1alpha1
    kind: IPPool
    metadata: {name: pods-v4}
    spec:
      cidr: 10.244.0.0/16
      blockSize: 24
      backend: overlay
    ---
    apiVersion: netwright.io/v1alpha1
    kind: Network
    metadata: {name: podnet}
    spec:
      type: bridge
      ipPools: [pods-v4]
    """
)

BGP = textwrap.dedent(
    f"""\
    apiVersion: netwright.io/v1alpha1
    kind: BGPPeer
    metadata: {{name: tor-a}}
    spec:
      peerIP: 172.31.255.1
      asNumber: 64513
      passwordSecretRef: {{namespace: kube-system, name: bgp-secrets, key: tor-a}}
    ---
    apiVersion: v1
    kind: Secret
    metadata: {{name: bgp-secrets, namespace: kube-system}}
    stringData: {{tor-a: {PASSWORD}}}
    """
)


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def run(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["validate", str(root)])
    out, err = capsys.readouterr()
    assert PASSWORD not in out + err
    lines = [line.replace(str(root) + "/", "") for line in err.splitlines()]
    return code, lines[:-1] if lines and "problem" in lines[-1] else lines


def test_the_base_spec_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, {"nodes.yaml": NODES, "network.yaml": NETWORK, "bgp.yaml": BGP})
    assert main(["validate", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "valid (3 Nodes, 1 Backend, 1 IPPool, 1 Network, 1 BGPPeer, 0 IPBlocks)" in out
    assert err == ""


@pytest.mark.parametrize("example", ["vxlan", "host-gw", "bgp"])
def test_examples_are_valid(example: str, capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(__file__).parents[2] / "examples" / example
    assert main(["validate", str(root)]) == 0, capsys.readouterr().err


@dataclass
class Case:
    id: str
    edit: dict[str, str]
    expect: list[str]  # regular expressions, one per expected problem line, in order
    replace: dict[str, tuple[str, str]] = field(default_factory=dict)  # file: (old, new)


def pools_with(extra: str) -> str:
    return NETWORK + "---\n" + textwrap.dedent(extra)


CASES = [
    Case(
        "block-size-too-long",
        {},
        [
            r"^network\.yaml:13: IPPool/pods-v4: spec\.blockSize: 33 is larger than 32, the longest IPv4 prefix$"
        ],
        replace={"network.yaml": ("blockSize: 24", "blockSize: 33")},
    ),
    Case(
        "block-size-shorter-than-pool",
        {},
        [
            r"^network\.yaml:13: IPPool/pods-v4: spec\.blockSize: 8 is shorter than the pool's own prefix /16"
        ],
        replace={"network.yaml": ("blockSize: 24", "blockSize: 8")},
    ),
    Case(
        "host-bits-set",
        {},
        [
            r"^network\.yaml:12: IPPool/pods-v4: spec\.cidr: 10\.244\.1\.0/16 has host bits set; the network is 10\.244\.0\.0/16$"
        ],
        replace={"network.yaml": ("cidr: 10.244.0.0/16", "cidr: 10.244.1.0/16")},
    ),
    Case(
        "overlapping-pools",
        {
            "network.yaml": pools_with(
                """\
                apiVersion: netwright.io/v1alpha1
                kind: IPPool
                metadata: {name: pods-b}
                spec: {cidr: 10.244.128.0/17, blockSize: 24, backend: overlay}
                """
            )
        },
        [
            r"^network\.yaml:26: IPPool/pods-b: spec\.cidr: 10\.244\.128\.0/17 overlaps IPPool/pods-v4 \(10\.244\.0\.0/16\)$"
        ],
    ),
    Case(
        "unknown-field-with-suggestion",
        {},
        [r"^network\.yaml:\d+: IPPool/pods-v4: spec.*blocksize.*blockSize"],
        replace={"network.yaml": ("blockSize: 24", "blocksize: 24")},
    ),
    Case(
        "enum",
        {},
        [r"^network\.yaml:\d+: Backend/overlay: spec\.type: .*vxlan2.*host-gw"],
        replace={"network.yaml": ("type: vxlan", "type: vxlan2")},
    ),
    Case(
        "vni-out-of-range",
        {},
        [r"^network\.yaml:\d+: Backend/overlay: spec\.vxlan\.vni: .*16777216.*16777215"],
        replace={"network.yaml": ("vni: 1}", "vni: 16777216}")},
    ),
    Case(
        "vxlan-settings-on-host-gw",
        {},
        [r"^network\.yaml:\d+: Backend/overlay: spec(\.vxlan)?: .*vxlan"],
        replace={"network.yaml": ("type: vxlan", "type: host-gw")},
    ),
    Case(
        "missing-backend",
        {},
        [
            r"^network\.yaml:14: IPPool/pods-v4: spec\.backend: Backend/underlay does not exist; defined: overlay$"
        ],
        replace={"network.yaml": ("backend: overlay", "backend: underlay")},
    ),
    Case(
        "missing-pool",
        {},
        [
            r"^network\.yaml:21: Network/podnet: spec\.ipPools\[0\]: IPPool/pods does not exist; defined: pods-v4$"
        ],
        replace={"network.yaml": ("ipPools: [pods-v4]", "ipPools: [pods]")},
    ),
    Case(
        "two-pools-one-family",
        {
            "network.yaml": pools_with(
                """\
                apiVersion: netwright.io/v1alpha1
                kind: IPPool
                metadata: {name: pods-b}
                spec: {cidr: 10.250.0.0/16, blockSize: 24, backend: overlay}
                """
            ).replace("ipPools: [pods-v4]", "ipPools: [pods-v4, pods-b]")
        },
        [
            r"^network\.yaml:21: Network/podnet: spec\.ipPools\[1\]: IPPool/pods-b is IPv4 like IPPool/pods-v4; a Network takes at most one pool per address family$"
        ],
    ),
    Case(
        "missing-secret",
        {"bgp.yaml": BGP.split("---")[0]},
        [
            r"^bgp\.yaml:7: BGPPeer/tor-a: spec\.passwordSecretRef: Secret kube-system/bgp-secrets is not in the spec directory$"
        ],
    ),
    Case(
        "missing-secret-key",
        {},
        [
            r"^bgp\.yaml:7: BGPPeer/tor-a: spec\.passwordSecretRef: Secret kube-system/bgp-secrets has no key `tor-a` \(keys: tor-b\)$"
        ],
        replace={"bgp.yaml": ("stringData: {tor-a", "stringData: {tor-b")},
    ),
    Case(
        "password-bird-cannot-carry",
        {},
        [
            r"^bgp\.yaml:7: BGPPeer/tor-a: spec\.passwordSecretRef: the password in Secret kube-system/bgp-secrets key `tor-a` contains a double quote"
        ],
        replace={"bgp.yaml": (f"tor-a: {PASSWORD}}}", f"tor-a: '{PASSWORD}\"x'}}")},
    ),
    Case(
        "duplicate-name",
        {"zz-more.yaml": NETWORK.split("---")[0]},
        [
            r"^zz-more\.yaml:3: Backend/overlay: metadata\.name: Backend/overlay is defined twice; first at network\.yaml:1$"
        ],
    ),
    Case(
        "duplicate-node-address",
        {},
        [
            r"^nodes\.yaml:\d+: Node/n2: status\.addresses: address 172\.31\.255\.11 is also Node/n1's; node addresses are unique$"
        ],
        replace={"nodes.yaml": ("172.31.255.12", "172.31.255.11")},
    ),
    Case(
        "node-without-internal-ip",
        {},
        [r"^nodes\.yaml:23: Node/n3: status\.addresses: the node has no InternalIP address"],
        replace={
            "nodes.yaml": (
                "{type: InternalIP, address: 172.31.255.13}",
                "{type: ExternalIP, address: 1.2.3.4}",
            )
        },
    ),
    Case(
        "capacity",
        {},
        [
            r"^network\.yaml:13: IPPool/pods-v4: spec\.blockSize: /24 blocks of 10\.244\.0\.0/23 give 2 usable blocks, but 3 nodes are selected"
        ],
        replace={"network.yaml": ("cidr: 10.244.0.0/16", "cidr: 10.244.0.0/23")},
    ),
    Case(
        "host-gw-needs-same-family-node-address",
        {
            "network.yaml": NETWORK.replace("type: vxlan\n  vxlan: {vni: 1}", "type: host-gw")
            .replace("cidr: 10.244.0.0/16", "cidr: fd00:10::/48")
            .replace("blockSize: 24", "blockSize: 64")
        },
        [
            r"^network\.yaml:\d+: IPPool/pods-v4: spec\.backend: host-gw routes IPv6 blocks via each node's IPv6 address, but 3 selected node\(s\) have none"
        ],
    ),
    Case(
        "duplicate-vni",
        {"zz-more.yaml": NETWORK.split("---")[0].replace("name: overlay", "name: overlay2")},
        [
            r"^zz-more\.yaml:\d+: Backend/overlay2: spec\.vxlan\.vni: VNI 1 is already Backend/overlay's"
        ],
    ),
    Case(
        "mtu-out-of-range",
        {},
        [r"^network\.yaml:\d+: Network/podnet: spec\.mtu: .*67"],
        replace={"network.yaml": ("type: bridge\n", "type: bridge\n  mtu: 67\n")},
    ),
    Case(
        "not-yaml",
        {"broken.yaml": "kind: [unclosed\n"},
        [r"^broken\.yaml:\d+: not valid YAML: "],
    ),
    Case(
        "wrong-api-version",
        {"more.yaml": "apiVersion: netwright.io/v1\nkind: IPPool\nmetadata: {name: x}\n"},
        [
            r"^more\.yaml:1: IPPool/x: apiVersion: netwright\.io/v1 is not served; netwright speaks netwright\.io/v1alpha1$"
        ],
    ),
    Case(
        "block-outside-pool",
        {
            "ipblocks.yaml": "apiVersion: netwright.io/v1alpha1\nkind: IPBlock\n"
            "metadata: {name: pods-v4.10-245-1-0-24}\n"
            "spec: {pool: pods-v4, cidr: 10.245.1.0/24, node: n1}\n"
        },
        [
            r"^ipblocks\.yaml:4: IPBlock/pods-v4\.10-245-1-0-24: spec\.cidr: 10\.245\.1\.0/24 is not a /24 block of IPPool/pods-v4 \(10\.244\.0\.0/16\)$"
        ],
    ),
    Case(
        "block-of-missing-pool",
        {
            "ipblocks.yaml": "apiVersion: netwright.io/v1alpha1\nkind: IPBlock\n"
            "metadata: {name: pods.10-244-1-0-24}\n"
            "spec: {pool: pods, cidr: 10.244.1.0/24, node: n1}\n"
        },
        [
            r"^ipblocks\.yaml:4: IPBlock/pods\.10-244-1-0-24: spec\.pool: IPPool/pods does not exist; defined: pods-v4$"
        ],
    ),
    Case(
        "block-misnamed",
        {
            "ipblocks.yaml": "apiVersion: netwright.io/v1alpha1\nkind: IPBlock\n"
            "metadata: {name: mine}\n"
            "spec: {pool: pods-v4, cidr: 10.244.1.0/24, node: n1}\n"
        },
        [
            r"^ipblocks\.yaml:3: IPBlock/mine: metadata\.name: 'mine' must be 'pods-v4\.10-244-1-0-24'"
        ],
    ),
    Case(
        "block-outside-ipblocks-yaml",
        {
            "sub/blocks.yaml": "apiVersion: netwright.io/v1alpha1\nkind: IPBlock\n"
            "metadata: {name: pods-v4.10-244-1-0-24}\n"
            "spec: {pool: pods-v4, cidr: 10.244.1.0/24, node: n1}\n"
        },
        [r"^sub/blocks\.yaml:1: IPBlock/pods-v4\.10-244-1-0-24: IPBlocks live in ipblocks\.yaml"],
    ),
    Case(
        "keepalive-not-below-hold",
        {},
        [
            r"^bgp\.yaml:\d+: BGPPeer/tor-a: spec\.keepaliveTime: 90 must be less than holdTime \(60\)"
        ],
        replace={
            "bgp.yaml": (
                "asNumber: 64513\n",
                "asNumber: 64513\n  holdTime: 60\n  keepaliveTime: 90\n",
            )
        },
    ),
    Case(
        "asn-out-of-range",
        {},
        [r"^bgp\.yaml:\d+: BGPPeer/tor-a: spec\.asNumber: .*4294967296.*4294967295"],
        replace={"bgp.yaml": ("asNumber: 64513", "asNumber: 4294967296")},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rejects(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = {"nodes.yaml": NODES, "network.yaml": NETWORK, "bgp.yaml": BGP}
    files.update(case.edit)
    for name, (old, new) in case.replace.items():
        assert old in files[name], f"test bug: {old!r} not in {name}"
        files[name] = files[name].replace(old, new)
    write(tmp_path, files)
    code, lines = run(tmp_path, capsys)
    assert code == 2, lines
    assert len(lines) == len(case.expect), "\n".join(lines)
    for pattern, line in zip(case.expect, lines, strict=True):
        assert re.search(pattern, line), f"{line!r} does not match {pattern!r}"


def test_every_problem_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = (
        NETWORK.replace("blockSize: 24", "blockSize: 33")
        .replace("ipPools: [pods-v4]", "ipPools: [nope]")
        .replace("vni: 1}", "vni: 0}")
    )
    write(
        tmp_path,
        {"nodes.yaml": NODES.replace("172.31.255.12", "172.31.255.11"), "network.yaml": bad},
    )
    code, lines = run(tmp_path, capsys)
    assert code == 2
    text = "\n".join(lines)
    for needle in ("spec.blockSize", "spec.ipPools[0]", "spec.vxlan.vni", "unique"):
        assert needle in text, text


def test_other_api_groups_are_ignored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        tmp_path,
        {
            "nodes.yaml": NODES,
            "network.yaml": NETWORK,
            "app.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {anything: 1}\n",
            ".git/junk.yaml": "not: [valid",
        },
    )
    assert main(["validate", "--verbose", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "ignored apps/v1 Deployment/web" in err
