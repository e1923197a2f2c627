#!/usr/bin/env python3
"""Attach a pod namespace to a node with the real CNI plugins, or detach it.

    cni_pod.py add|del ROOT POD_NETNS

Runs inside the node's network namespace (the netwright.fabric.netns connection puts
it there), reads the first `*.conflist` netwright wrote under ROOT/etc/cni/net.d, and
does what a container runtime's libcni does: each plugin gets the list's `name` and
`cniVersion`; ADD runs them in order, each with the previous result as `prevResult`;
DEL runs them in reverse. The plugins run with only the `CNI_*` variables and `PATH`.
ADD prints the final result (JSON), whose `ips` hold the pod's address.

Molecule's verify step uses it; nothing of netwright's is imported: the point is to
check what netwright wrote with the plugins a runtime would use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CNI_PATH = "/usr/lib/cni"


def conflist(root: str) -> dict:
    found = sorted((Path(root) / "etc" / "cni" / "net.d").glob("*.conflist"))
    if not found:
        sys.exit(f"no *.conflist under {root}/etc/cni/net.d (was the node provisioned?)")
    return json.loads(found[0].read_text(encoding="utf-8"))


def invoke(command: str, plugin: dict, pod: str, prev: dict | None) -> dict:
    conf = {**plugin}
    if prev is not None:
        conf["prevResult"] = prev
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": pod,
        "CNI_NETNS": f"/run/netns/{pod}",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": CNI_PATH,
        "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=molecule;K8S_POD_NAME={pod}",
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }
    proc = subprocess.run(
        [os.path.join(CNI_PATH, plugin["type"])],
        input=json.dumps(conf),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"CNI {command} {plugin['type']}: exit {proc.returncode}: {proc.stdout}{proc.stderr}")
    return json.loads(proc.stdout) if proc.stdout.strip() else (prev or {})


def main(action: str, root: str, pod: str) -> None:
    net = conflist(root)
    plugins = [{"name": net["name"], "cniVersion": net["cniVersion"], **p} for p in net["plugins"]]
    if action == "add":
        result = None
        for plugin in plugins:
            result = invoke("ADD", plugin, pod, result)
        print(json.dumps(result))
    else:
        for plugin in reversed(plugins):
            invoke("DEL", plugin, pod, None)


if __name__ == "__main__":
    main(*sys.argv[1:4])
