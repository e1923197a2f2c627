"""A spec with an IPv6 pool beside the IPv4 one gives pods both families, and both work.

`lab up --spec` with a copy of examples/vxlan plus a v6 pool: every pod gets an
address of each family, `lab test` pings every pod address of both families
across nodes (vxlan carries IPv6 over the IPv4 underlay), and `down` leaves
nothing behind.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
from pathlib import Path

from _lab import lab_name, lab_namespaces, netwright, root_snapshot

EXAMPLE = Path(__file__).parents[2] / "examples" / "vxlan"
V6_POOL = """\
---
apiVersion: netwright.io/v1alpha1
kind: IPPool
metadata: {name: pods-v6}
spec: {cidr: "fd00:10::/48", blockSize: 64, backend: overlay}
"""


def test_dual_stack_pods_reach_each_other_in_both_families(tmp_path: Path) -> None:
    spec = tmp_path / "spec"
    shutil.copytree(EXAMPLE, spec)
    (spec / "ipblocks.yaml").unlink()
    network = spec / "network.yaml"
    network.write_text(
        network.read_text().replace("ipPools: [pods-v4]", "ipPools: [pods-v4, pods-v6]") + V6_POOL
    )
    name = lab_name("d")
    before = root_snapshot()
    try:
        netwright("lab", "up", "--spec", str(spec), "--name", name, check=True)
        status = json.loads(netwright("lab", "status", "--name", name, "-o", "json").stdout)
        for pod in status["pods"]:
            versions = sorted(ipaddress.ip_address(ip).version for ip in pod["ips"])
            assert versions == [4, 6], pod
        result = netwright("lab", "test", "--name", name)
        assert result.returncode == 0, result.stdout
        assert not re.search(r"^FAIL", result.stdout, re.MULTILINE), result.stdout
        v6 = [line for line in result.stdout.splitlines() if "(IPv6)" in line]
        assert any("other nodes (IPv6): 4/4 replied" in line for line in v6), result.stdout
        assert all(line.startswith("PASS") for line in v6), "\n".join(v6)
    finally:
        netwright("lab", "down", "--name", name)
    assert lab_namespaces(name) == []
    assert root_snapshot() == before
    assert list(spec.glob("ipblocks.yaml")) == [], "the lab never writes into the spec it was given"
