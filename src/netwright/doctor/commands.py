"""`netwright doctor`: the argparse registration and the help that explains each check.

Why it exists: `netwright.cli.parser` registers the command with one call (`add_parser`); the
help text, which is the doctor's manual, lives beside the code it describes.

What it must not do: import anything heavy at module level: `netwright validate`
imports this module and must not pay for the engine or the kernel adapter.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from netwright import _argtypes

if TYPE_CHECKING:
    import argparse

#: The lab's own rule for a lab name (it prefixes every namespace the lab makes).
_LAB_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")
#: Where Debian's containernetworking-plugins installs the plugins, and where the
#: lab's CNI runtime looks for them; upstream containerd looks in /opt/cni/bin.
DEFAULT_CNI_BIN_DIR = "/usr/lib/cni"

DESCRIPTION = """\
Run the pod-network troubleshooting list against one node and say, per check, PASS,
WARN or FAIL, what was measured and what to do. Read-only: nothing is changed. The
node's plan (what `netwright plan` compares) says what to expect.

checks:
  conflist    the file a CNI runtime loads from <root>/etc/cni/net.d (the first *.conf,
              *.conflist or *.json by name, as libcni picks it) is valid JSON with name,
              cniVersion and plugins, and is netwright's (FAIL when another file shadows it)
  plugins     every plugin the conflist names (and its IPAM) is an executable in
              --cni-bin-dir and answers CNI_COMMAND=VERSION with the conflist's cniVersion
              (a type that is a path, as libcni refuses, is never run: FAIL)
  ipam        host-local's reservations (one file per address under its dataDir/<network>,
              holding the container ID and interface) against the node's blocks. An address
              is leaked when no pod holds it: a pod is a network namespace whose veth is a
              port of the node's bridge, found through that veth's peer namespace id
              (`ip netns list-id`, named when pinned in /run/netns, as containerd and CRI-O
              pin theirs) and its addresses (`ip -n POD addr`). WARN for leaks, FAIL when a
              block is exhausted
  routes      netwright's routes (proto 211) and nexthops against the plan; fdb: the VTEPs'
  fdb         fdb and neighbour entries; devices: bridges, tunnels and their addresses;
  devices     files: the conflist and BIRD config (and a pending BIRD reload). Missing,
  files       different or foreign-in-the-way FAIL, extra WARN
  mtu         underlay -> tunnel (VTEP) -> bridge -> conflist mtu -> each pod veth, both ends:
              each as planned and equal along the chain, the tunnel's overhead within the
              underlay's MTU
  forwarding  net.ipv4.ip_forward (and IPv6 forwarding with IPv6 blocks) on (FAIL when off);
              WARN when an nft chain on the forward hook (iptables' FORWARD) has policy drop
  rp_filter   net.ipv4.conf.all.rp_filter as netwright sets it; the effective value
              (max of all and the device's) of the underlay, bridges and tunnels is shown
  bridge-nf   net.bridge.bridge-nf-call-ip(6)tables on, so bridged pod traffic passes
              iptables (WARN when off or br_netfilter is not loaded)
  bird        (nodes whose config has BIRD) BIRD answers on its control socket (`birdc -s
              SOCKET show status`), every BGP session of its config is Established, and every
              other node's block of a bgp pool is in the kernel as a proto bird route
  nat         (natOutgoing pools) the nft table inet netwright is loaded and masquerades

For a lab node, --lab NAME finds the namespace, root and spec directory in the lab's
state; otherwise SPEC_DIR is required, with --netns and --root as `netwright plan` takes
them."""


def _lab_name(text: str) -> str:
    import argparse  # noqa: PLC0415 - only the parser needs it

    if not _LAB_NAME.match(text) or text.endswith("-"):
        raise argparse.ArgumentTypeError(
            f"lab name {text!r}: 1 to 16 lowercase letters, digits and '-'"
        )
    return text


def cmd_doctor(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.doctor_parser
    if args.lab and (args.dir or args.netns or args.root != "/"):
        parser.error(
            "--lab finds the node's spec directory, namespace and root itself; "
            "give SPEC_DIR, --netns and --root only without it"
        )
    if not args.lab and not args.dir:
        parser.error("give the node's SPEC_DIR, or --lab NAME for a node of a local lab")
    from netwright.doctor.running import run  # noqa: PLC0415

    return run(args)


def add_parser(subparsers: Any, parent: argparse.ArgumentParser) -> None:
    """Register `doctor` on the top-level subparsers."""
    import argparse  # noqa: PLC0415 - only the parser needs it

    p = subparsers.add_parser(
        "doctor",
        parents=[parent],
        help="diagnose a node: conflist, plugins, IPAM, routes, MTU, sysctls, BIRD, NAT",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit codes: 0 no check failed (WARNs allowed), 1 a check failed or the node "
        "could not be read, 2 invalid input.",
    )
    p.add_argument("dir", nargs="?", metavar="SPEC_DIR", help="the spec directory (not with --lab)")
    p.add_argument("--node", required=True, metavar="N", help="the Node to diagnose")
    p.add_argument(
        "--lab",
        type=_lab_name,
        metavar="NAME",
        help="a node of this local lab: its namespace, root and spec come from the lab's state",
    )
    p.add_argument(
        "--netns",
        type=_argtypes.netns_name,
        metavar="NS",
        help="the node's named network namespace (default: the current one)",
    )
    p.add_argument(
        "--root",
        type=_argtypes.root_path,
        default="/",
        metavar="PATH",
        help="prefix of the node's files (conflists, BIRD config and socket, state)",
    )
    p.add_argument(
        "--cni-bin-dir",
        default=DEFAULT_CNI_BIN_DIR,
        metavar="DIRS",
        help="where the plugins are, colon-separated like CNI_PATH (default %(default)s, "
        "where Debian's containernetworking-plugins installs them; upstream: /opt/cni/bin)",
    )
    p.add_argument(
        "--underlay-mtu",
        type=_argtypes.int_range(_argtypes.MTU_MIN, _argtypes.MTU_MAX),
        default=1500,
        metavar="N",
        help="the underlay MTU where no live link says it (default %(default)s)",
    )
    p.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default="text",
        help="output format (default %(default)s)",
    )
    p.set_defaults(func=cmd_doctor, doctor_parser=p)
