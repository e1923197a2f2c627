"""A node's bridges and CNI conflists, one per Network that selects it.

A Network becomes a conflist (`bridge` or `ptp` with `host-local` IPAM over the
node's blocks of the Network's pools, then the chained plugins), and, for a
bridge Network, the bridge device with the blocks' gateway addresses. A bridge
name is checked once more here against the node's own devices: only a live node
knows its underlay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netwright.errors import Issue, ValidationError
from netwright.model.config import Bridge, Conflist, NodeFacts
from netwright.model.spec import NetworkType
from netwright.model.state import interface
from netwright.render.paths import CNI_DATA_DIR, under
from netwright.render.tunnels import network_mtu
from netwright.validate.names import interface_name_problem, interface_name_rule, reserved_device

if TYPE_CHECKING:
    from collections.abc import Mapping

    from netwright._types import IPAddress, IPNetwork
    from netwright.model.spec import IPBlock, Network, Node
    from netwright.render.index import ClusterIndex


def first_address(block: IPNetwork) -> IPAddress:
    return block.network_address + 1


def _plain(value: Any) -> Any:
    """A JSON-able copy of a chained plugin's configuration (mappings and tuples from the model)."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


#: Capabilities libcni must see declared before it passes a plugin its runtimeConfig.
_CAPABILITIES: Mapping[str, Mapping[str, bool]] = {
    "portmap": {"portMappings": True},
    "bandwidth": {"bandwidth": True},
}


def networks(
    ix: ClusterIndex, node: Node, own_by_pool: Mapping[str, IPBlock], facts: NodeFacts
) -> tuple[tuple[Bridge, ...], tuple[Conflist, ...]]:
    """The bridges and conflists of the Networks that select the node and hold one of its blocks."""
    bridges: list[Bridge] = []
    conflists: list[Conflist] = []
    data_dir = under(facts.root, CNI_DATA_DIR)
    for network in ix.cluster.networks:
        if not network.node_selector.matches(node.labels):
            continue
        net_blocks = [own_by_pool[p] for p in network.ip_pools if p in own_by_pool]
        if not net_blocks:
            # host-local needs a range: without a block here the node runs no pods of it yet
            continue
        net_blocks.sort(key=lambda b: b.cidr.version)
        mtu = network_mtu(ix, network, node, facts)
        is_bridge = network.type is NetworkType.BRIDGE
        ranges = []
        for b in net_blocks:
            entry: dict[str, Any] = {"subnet": str(b.cidr)}
            if is_bridge:
                entry["gateway"] = str(first_address(b.cidr))
            ranges.append([entry])
        ipam = {
            "type": "host-local",
            "ranges": ranges,
            "routes": [{"dst": "0.0.0.0/0" if b.cidr.version == 4 else "::/0"} for b in net_blocks],
            "dataDir": data_dir,
        }
        main: dict[str, Any]
        if is_bridge:
            bridge_name = network.bridge_name or "cni0"
            _check_bridge_name(network, bridge_name, facts)
            main = {
                "type": "bridge",
                "bridge": bridge_name,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "mtu": mtu,
                "ipam": ipam,
            }
            bridges.append(
                Bridge(
                    name=bridge_name,
                    mtu=mtu,
                    addresses=tuple(
                        interface(first_address(b.cidr), b.cidr.prefixlen) for b in net_blocks
                    ),
                )
            )
        else:
            main = {"type": "ptp", "mtu": mtu, "ipam": ipam}
        chained = []
        for plugin in network.plugins:
            conf = _plain(plugin)
            caps = _CAPABILITIES.get(conf.get("type", ""))
            if caps is not None and "capabilities" not in conf:
                conf["capabilities"] = dict(caps)
            chained.append(conf)
        conflists.append(
            Conflist(
                network=network.name,
                file=network.conflist_name,
                config={
                    "cniVersion": network.cni_version,
                    "name": network.name,
                    "plugins": [main, *chained],
                },
            )
        )
    bridges.sort(key=lambda b: b.name)
    conflists.sort(key=lambda c: c.file)
    return tuple(bridges), tuple(conflists)


def _check_bridge_name(network: Network, name: str, facts: NodeFacts) -> None:
    """Refuse a bridge name the kernel rejects or that is a device it, the node or netwright owns.

    `validate` refuses all of these but the underlay, which only a live node
    (or `render --underlay`) tells; this is the last stop before a device is made.
    """
    problem = interface_name_problem(name)
    owner = reserved_device(name)
    if problem is not None:
        message = f"{name!r} {problem}, which the kernel refuses; {interface_name_rule()}"
    elif owner is not None:
        message = f"{name} is {owner}; name the bridge something else, such as cni0"
    elif name == facts.underlay_dev:
        message = (
            f"{name} is the node's underlay device, which holds its address; "
            "name the bridge something else, such as cni0"
        )
    else:
        return
    raise ValidationError(
        [
            Issue(
                file=network.source.file if network.source.line else "",
                line=network.source.line,
                kind="Network",
                name=network.name,
                path="spec.bridge.name",
                message=message,
            )
        ]
    )
