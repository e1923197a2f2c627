"""The lab's own copy of a spec directory, with the node count it was asked for.

Why it exists: the lab provisions from a spec directory through the normal
pipeline, but must never write into the one it was given (`examples/<backend>/` or
the installed package data). It copies it into its state directory; when `--nodes`
differs from the spec's node count it replaces the spec's v1 Node documents with
generated ones (`n1..nN`, `172.31.255.(10+i)`) and re-runs what
`netwright allocate --write` does on the copy, so existing blocks stay put and the
new nodes get the lowest free ones.

The copy is readable by root alone (directories 0700, files 0600): a spec may hold
a Secret (a BGP password), and the only other files that may hold it are the BIRD
configurations that need it.

What it must not do: touch the source directory, or change any document in the
copy other than v1 Nodes and `ipblocks.yaml`.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from contextlib import ExitStack
from importlib import resources
from typing import Any

from netwright.lab import LabError

BACKENDS = ("vxlan", "host-gw", "bgp")
#: Generated nodes: n<i> at 172.31.255.(10+i), i = 1..244.
UNDERLAY = ipaddress.ip_network("172.31.255.0/24")
MAX_NODES = 244


def node_ip(i: int) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(int(UNDERLAY.network_address) + 10 + i)


def copy_spec(source: str | None, backend: str, dest: str) -> str:
    """Copy `source` (default: the packaged example for `backend`) to `dest`; returns where from."""
    if source is not None:
        if not os.path.isdir(source):
            raise LabError(f"--spec {source}: not a directory")
        _copytree(source, dest)
        return os.path.abspath(source)
    if backend not in BACKENDS:
        raise LabError(f"backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    example = resources.files("netwright") / "data" / "examples" / backend
    with ExitStack() as stack:
        path = stack.enter_context(resources.as_file(example))
        _copytree(str(path), dest)
        return f"netwright/data/examples/{backend} (package data)"


def _copytree(source: str, dest: str) -> None:
    def hidden(_dir: str, names: list[str]) -> list[str]:
        return [n for n in names if n.startswith(".")]

    def private_copy(src: str, dst: str) -> str:
        # Created 0600 before a byte lands: the file may hold a Secret.
        with open(src, "rb") as reader:
            fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as writer:
                shutil.copyfileobj(reader, writer)
        return dst

    os.makedirs(os.path.dirname(dest), exist_ok=True)
    os.mkdir(dest, 0o700)
    shutil.copytree(source, dest, ignore=hidden, copy_function=private_copy, dirs_exist_ok=True)
    os.chmod(dest, 0o700)  # copytree copied the source directories' modes
    for top, dirs, _files in os.walk(dest):
        for d in dirs:
            os.chmod(os.path.join(top, d), 0o700)


def _is_node(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("kind") == "Node" and doc.get("apiVersion") == "v1"


def set_node_count(dest: str, count: int) -> bool:
    """Replace the copy's Nodes with `count` generated ones and allocate; False if already right."""
    import yaml  # noqa: PLC0415

    from netwright._atomic import write_atomic  # noqa: PLC0415
    from netwright.documents import ipblocks_yaml  # noqa: PLC0415
    from netwright.ipam import allocate  # noqa: PLC0415
    from netwright.validate import IPBLOCKS_FILE, load_spec  # noqa: PLC0415

    if not 1 <= count <= MAX_NODES:
        raise LabError(f"--nodes {count}: the lab's underlay holds 1 to {MAX_NODES} nodes")
    if len(load_spec(dest).cluster.nodes) == count:
        return False
    for top, dirs, files in os.walk(dest):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for f in files:
            if not f.endswith((".yaml", ".yml")) or f == IPBLOCKS_FILE:
                continue
            path = os.path.join(top, f)
            with open(path, encoding="utf-8") as stream:
                docs = list(yaml.safe_load_all(stream))
            if not any(_is_node(d) for d in docs):
                continue
            rest = [d for d in docs if d is not None and not _is_node(d)]
            if rest:
                write_atomic(path, yaml.safe_dump_all(rest, sort_keys=False), mode=0o600)
            else:
                os.unlink(path)
    nodes = []
    for i in range(1, count + 1):
        nodes.append(
            "---\napiVersion: v1\nkind: Node\n"
            f"metadata:\n  name: n{i}\n  labels: {{kubernetes.io/os: linux}}\n"
            f"status:\n  addresses: [{{type: InternalIP, address: {node_ip(i)}}}]\n"
        )
    target = os.path.join(dest, "nodes.yaml")
    if os.path.exists(target):
        target = os.path.join(dest, "lab-nodes.yaml")
    write_atomic(
        target,
        f"# Generated by `netwright lab up --nodes {count}`.\n" + "".join(nodes),
        mode=0o600,
    )
    result = allocate(load_spec(dest).cluster)
    write_atomic(os.path.join(dest, IPBLOCKS_FILE), ipblocks_yaml(result.blocks), mode=0o600)
    return True
