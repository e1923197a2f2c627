"""A small CNI runtime: what libcni does for a conflist, in Python, for the lab's pods.

Why it exists: Debian ships the reference plugins but no `cnitool`
(docs/troubleshooting.md#no-cnitool-on-debian), and the lab must attach pods with
the *real* plugins, executed with the conflist netwright rendered, exactly as
containerd would. So this does what libcni does:

- the conflist is read from the node's `etc/cni/net.d` (first `*.conflist` by
  name, as libcni's `ConfFiles` sorts), never taken from the renderer directly;
- `name` and `cniVersion` of the list are injected into each plugin's config;
- ADD runs the plugins in order, chaining each result as the next `prevResult`;
  the final result is cached (`<cache>/results/<net>-<container>-<ifname>`);
- CHECK runs in order and DEL in reverse, both with `prevResult` = the cached
  result; DEL without a cached result still runs (and must succeed), CHECK without
  one fails, like libcni;
- `runtimeConfig` carries only the capabilities a plugin declares and the runtime
  has a value for (`portMappings` for portmap);
- `loopback` brings up `lo` first, as containerd does, and is removed last;
- each plugin runs inside the *node* namespace (so `cni0` and the host end of the
  veth land there, docs/troubleshooting.md#plugins-run-in-the-node-namespace) with
  only `CNI_*` and `PATH` in its environment (`env -i`; portmap needs `PATH` to
  find `iptables`); `CNI_NETNS` is the pod's bind mount `/run/netns/<pod>`.

What it must not do: touch the pod or node namespace itself (only the plugins
do), share host-local state between simulated nodes (each node's conflist names
its own `dataDir`, docs/troubleshooting.md#host-local-state-per-node), or keep a
cached result after a successful DEL.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from dataclasses import dataclass, field
from typing import Any

from netwright._atomic import write_atomic
from netwright.lab import LabError
from netwright.lab._proc import NETNS_DIR, PATH

CNI_PATH = "/usr/lib/cni"


class CniError(LabError):
    """A plugin failed: which one, which command, and the error it returned."""

    def __init__(
        self, plugin: str, command: str, code: int | None, msg: str, details: str = ""
    ) -> None:
        self.plugin, self.command, self.code, self.msg, self.details = (
            plugin,
            command,
            code,
            msg,
            details,
        )
        text = f"CNI {command} {plugin}: {msg}"
        if details:
            text += f" ({details})"
        super().__init__(text)


@dataclass(frozen=True, kw_only=True, slots=True)
class Attachment:
    """One pod interface: what libcni calls a RuntimeConf."""

    container_id: str
    pod: str
    pod_netns: str
    ifname: str = "eth0"
    capability_args: dict[str, Any] = field(default_factory=dict)

    @property
    def netns_path(self) -> str:
        return os.path.join(NETNS_DIR, self.pod_netns)

    @property
    def cni_args(self) -> str:
        return (
            f"IgnoreUnknown=1;K8S_POD_NAMESPACE=lab;K8S_POD_NAME={self.pod};"
            f"K8S_POD_INFRA_CONTAINER_ID={self.container_id}"
        )


class Runtime:
    """The CNI runtime of one node: its conflist directory, its cache, its namespace."""

    def __init__(
        self, *, node_netns: str, conf_dir: str, cache_dir: str, cni_path: str = CNI_PATH
    ) -> None:
        self.node_netns = node_netns
        self.conf_dir = conf_dir
        self.cache_dir = cache_dir
        self.cni_path = cni_path

    # ------------------------------------------------------------ configuration

    def conflist(self) -> dict[str, Any]:
        try:
            files = sorted(f for f in os.listdir(self.conf_dir) if f.endswith(".conflist"))
        except FileNotFoundError:
            files = []
        if not files:
            raise LabError(f"{self.conf_dir}: no *.conflist (was the node provisioned?)")
        path = os.path.join(self.conf_dir, files[0])
        with open(path, encoding="utf-8") as stream:
            conf: dict[str, Any] = json.load(stream)
        for key in ("name", "cniVersion", "plugins"):
            if key not in conf:
                raise LabError(f"{path}: conflist without `{key}`")
        return conf

    def _cache_path(self, network: str, att: Attachment) -> str:
        return os.path.join(self.cache_dir, "results", f"{network}-{att.container_id}-{att.ifname}")

    def cached(self, att: Attachment, network: str) -> dict[str, Any] | None:
        try:
            with open(self._cache_path(network, att), encoding="utf-8") as stream:
                entry: dict[str, Any] = json.load(stream)
        except FileNotFoundError:
            return None
        result = entry.get("result")
        return result if isinstance(result, dict) else None

    def _store(self, conflist: dict[str, Any], att: Attachment, result: dict[str, Any]) -> None:
        path = self._cache_path(conflist["name"], att)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        entry = {
            "kind": "cniCacheV1",
            "containerId": att.container_id,
            "ifName": att.ifname,
            "networkName": conflist["name"],
            "config": conflist,
            "cniArgs": att.cni_args,
            "capabilityArgs": att.capability_args,
            "result": result,
        }
        write_atomic(path, json.dumps(entry))

    # ------------------------------------------------------------ the operations

    def add(self, att: Attachment) -> dict[str, Any]:
        conflist = self.conflist()
        self._invoke("ADD", self._loopback(conflist), att, ifname="lo")
        prev: dict[str, Any] | None = None
        for plugin in conflist["plugins"]:
            prev = self._invoke("ADD", self._plugin_conf(plugin, conflist, att, prev), att)
        if prev is None:
            raise LabError(f"{self.conf_dir}: conflist {conflist['name']} has no plugins")
        self._store(conflist, att, prev)
        return prev

    def check(self, att: Attachment) -> None:
        conflist = self.conflist()
        prev = self.cached(att, conflist["name"])
        if prev is None:
            raise CniError(
                conflist["name"],
                "CHECK",
                None,
                f"no cached result for container {att.container_id}",
            )
        for plugin in conflist["plugins"]:
            self._invoke("CHECK", self._plugin_conf(plugin, conflist, att, prev), att)

    def delete(self, att: Attachment) -> None:
        conflist = self.conflist()
        prev = self.cached(att, conflist["name"])
        for plugin in reversed(conflist["plugins"]):
            self._invoke("DEL", self._plugin_conf(plugin, conflist, att, prev), att)
        self._invoke("DEL", self._loopback(conflist), att, ifname="lo")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._cache_path(conflist["name"], att))

    # ------------------------------------------------------------ plumbing

    @staticmethod
    def _loopback(conflist: dict[str, Any]) -> dict[str, Any]:
        return {"cniVersion": conflist["cniVersion"], "name": "cni-loopback", "type": "loopback"}

    @staticmethod
    def _plugin_conf(
        plugin: dict[str, Any],
        conflist: dict[str, Any],
        att: Attachment,
        prev: dict[str, Any] | None,
    ) -> dict[str, Any]:
        conf = dict(plugin)
        conf["name"] = conflist["name"]
        conf["cniVersion"] = conflist["cniVersion"]
        if prev is not None:
            conf["prevResult"] = prev
        capabilities = plugin.get("capabilities") or {}
        runtime = {
            k: att.capability_args[k]
            for k, on in capabilities.items()
            if on and k in att.capability_args
        }
        if runtime:
            conf["runtimeConfig"] = runtime
        return conf

    def _binary(self, plugin: str) -> str:
        for directory in self.cni_path.split(":"):
            path = os.path.join(directory, plugin)
            if os.access(path, os.X_OK):
                return path
        raise LabError(
            f"CNI plugin {plugin!r} not found in {self.cni_path} "
            "(Debian's containernetworking-plugins installs them in /usr/lib/cni)"
        )

    def _invoke(
        self, command: str, conf: dict[str, Any], att: Attachment, ifname: str | None = None
    ) -> Any:
        plugin = conf["type"]
        env = {
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": att.container_id,
            "CNI_NETNS": att.netns_path,
            "CNI_IFNAME": ifname or att.ifname,
            "CNI_ARGS": att.cni_args,
            "CNI_PATH": self.cni_path,
            "PATH": PATH,
        }
        # `ip netns exec` execs the plugin with exactly this environment (env -i).
        argv = ["ip", "netns", "exec", self.node_netns, self._binary(plugin)]
        try:
            proc = subprocess.run(
                argv,
                input=json.dumps(conf),
                capture_output=True,
                text=True,
                env=env,
                check=False,
                timeout=60,
            )
        except subprocess.TimeoutExpired:
            raise CniError(plugin, command, None, "no answer after 60 s") from None
        if proc.returncode != 0:
            try:
                err = json.loads(proc.stdout)
                raise CniError(
                    plugin,
                    command,
                    err.get("code"),
                    str(err.get("msg", "")),
                    str(err.get("details", "")),
                )
            except (ValueError, AttributeError):
                raise CniError(
                    plugin,
                    command,
                    None,
                    (proc.stderr or proc.stdout).strip() or f"exit {proc.returncode}",
                ) from None
        if command != "ADD" or not proc.stdout.strip():
            return None
        try:
            return json.loads(proc.stdout)
        except ValueError:
            raise CniError(
                plugin, command, None, f"result is not JSON: {proc.stdout[:200]!r}"
            ) from None
