"""A real control plane for tests: etcd + kube-apiserver from `KUBEBUILDER_ASSETS`.

The same two binaries controller-runtime's envtest runs (`../shared/envtest/README.md`):
one control plane per test session, on free loopback ports, in a fresh data directory,
with a token of a `system:masters` identity and an audit log of every request (so a test
can count exactly which writes a client made). `ControlPlane.stop` ends both processes by
the pids it started (SIGTERM, then SIGKILL) and removes the data directory.

The client is plain HTTPS (urllib) with the server's self-signed certificate as its CA:
no Kubernetes client library is needed to send a document and read the answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ASSETS_VARIABLE = "KUBEBUILDER_ASSETS"
SKIP_REASON = (
    "KUBEBUILDER_ASSETS is not set (a kube-apiserver and etcd, "
    "e.g. `KUBEBUILDER_ASSETS=$(../shared/envtest/setup)`)"
)
TOKEN_USER = "netwright-test-admin"

_AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
"""


class ApiError(Exception):
    """A non-2xx answer: its HTTP code and the decoded `Status` body."""

    def __init__(self, code: int, body: dict[str, Any]) -> None:
        super().__init__(f"{code}: {body.get('message', body)}")
        self.code = code
        self.body = body


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Client:
    """JSON over HTTPS to the API server, authenticated by a bearer token."""

    server: str
    token: str
    ca_file: str
    #: Sent with every request (e.g. the impersonation headers of `impersonating`).
    headers: dict[str, str] = field(default_factory=dict)
    _context: ssl.SSLContext = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._context = ssl.create_default_context(cafile=self.ca_file)

    def impersonating(self, user: str, *, extra: dict[str, str] | None = None) -> Client:
        """This client acting as `user` (with `extra` claims, which a token file cannot
        give), through the API server's impersonation headers: allowed for the
        `system:masters` identity of the harness. A service account's username
        (`system:serviceaccount:NS:NAME`) gets its groups from the server."""
        headers = {"Impersonate-User": user}
        for key, value in (extra or {}).items():
            headers["Impersonate-Extra-" + urllib.parse.quote(key, safe="")] = value
        return Client(self.server, self.token, self.ca_file, headers={**self.headers, **headers})

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        content_type: str = "application/json",
        timeout: float = 30,
    ) -> dict[str, Any]:
        url = self.server + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        for key, value in self.headers.items():
            req.add_header(key, value)
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self._context, timeout=timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                decoded = json.loads(raw)
            except ValueError:
                decoded = {"message": raw.decode(errors="replace")}
            raise ApiError(exc.code, decoded) from None
        return json.loads(raw) if raw else {}

    def get(self, path: str, **kw: Any) -> dict[str, Any]:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> dict[str, Any]:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any, **kw: Any) -> dict[str, Any]:
        return self.request("PUT", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> dict[str, Any]:
        return self.request("DELETE", path, **kw)


@dataclass
class ControlPlane:
    """A running etcd + kube-apiserver; `start` it, use `client`, `stop` it."""

    assets: Path
    workdir: Path
    etcd_port: int = 0
    secure_port: int = 0
    token: str = ""
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    #: Seconds from start to /readyz ok, as measured by the caller.
    startup_seconds: float = 0.0

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.secure_port}"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "certs" / "apiserver.crt"

    @property
    def audit_log(self) -> Path:
        return self.workdir / "audit.log"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @classmethod
    def start(cls, assets: str | os.PathLike[str], *, timeout: float = 60) -> ControlPlane:
        workdir = Path(tempfile.mkdtemp(prefix="netwright-apiserver-"))
        plane = cls(assets=Path(assets), workdir=workdir)
        try:
            plane._start(timeout)
        except BaseException:
            plane.stop()
            raise
        return plane

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        with open(self.workdir / log, "wb") as out:
            proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.processes.append(proc)
        return proc

    def _start(self, timeout: float) -> None:
        for binary in ("etcd", "kube-apiserver"):
            if not os.access(self.assets / binary, os.X_OK):
                raise FileNotFoundError(f"{ASSETS_VARIABLE}={self.assets} holds no {binary}")
        self.etcd_port, peer_port, self.secure_port = _free_port(), _free_port(), _free_port()
        self.token = os.urandom(16).hex()
        self._spawn(
            [
                str(self.assets / "etcd"),
                "--name=t",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=t=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync=true",
                "--heartbeat-interval=10",
                "--election-timeout=100",
                "--log-level=warn",
            ],
            "etcd.log",
        )
        key = self.workdir / "sa.key"
        pub = self.workdir / "sa.pub"
        subprocess.run(
            ["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True
        )
        subprocess.run(
            ["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(pub)],
            check=True,
            capture_output=True,
        )
        tokens = self.workdir / "tokens.csv"
        tokens.write_text(f"{self.token},{TOKEN_USER},{TOKEN_USER}-uid,system:masters\n")
        policy = self.workdir / "audit-policy.yaml"
        policy.write_text(_AUDIT_POLICY)
        self._spawn(
            [
                str(self.assets / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.secure_port}",
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",
                f"--cert-dir={self.workdir / 'certs'}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                "--disable-admission-plugins=ServiceAccount",
                f"--service-account-issuer=https://127.0.0.1:{self.secure_port}/",
                f"--service-account-key-file={pub}",
                f"--service-account-signing-key-file={key}",
                f"--audit-policy-file={policy}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-mode=blocking",
            ],
            "kube-apiserver.log",
        )
        self._wait_ready(timeout)
        self._write_kubeconfig()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "not started"
        while time.monotonic() < deadline:
            for proc in self.processes:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{proc.args[0]} exited with {proc.returncode}: {self.log_tail()}"
                    )
            if self.ca_file.exists():
                try:
                    ctx = ssl.create_default_context(cafile=str(self.ca_file))
                    req = urllib.request.Request(self.server + "/readyz")
                    req.add_header("Authorization", f"Bearer {self.token}")
                    with urllib.request.urlopen(req, context=ctx, timeout=2) as resp:
                        if resp.read() == b"ok":
                            return
                except (OSError, ssl.SSLError) as exc:
                    last = str(exc)
            time.sleep(0.05)
        raise TimeoutError(
            f"kube-apiserver not ready after {timeout} s ({last}): {self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        out = []
        for log in ("etcd.log", "kube-apiserver.log"):
            with contextlib.suppress(OSError):
                text = (self.workdir / log).read_text(errors="replace").splitlines()
                out.append(f"--- {log}\n" + "\n".join(text[-lines:]))
        return "\n".join(out)

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "envtest",
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": TOKEN_USER, "user": {"token": self.token}}],
            "contexts": [
                {"name": "envtest", "context": {"cluster": "envtest", "user": TOKEN_USER}}
            ],
            "current-context": "envtest",
        }
        self.kubeconfig.write_text(json.dumps(config, indent=2))
        self.kubeconfig.chmod(0o600)

    def client(self) -> Client:
        return Client(self.server, self.token, str(self.ca_file))

    def audit_events(self) -> list[dict[str, Any]]:
        """Every request the server has logged so far (blocking mode: complete on return)."""
        try:
            text = self.audit_log.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def stop(self, grace: float = 5) -> None:
        """SIGTERM each process we started, the API server first (it needs etcd to shut
        down cleanly: with etcd gone it retries until killed), SIGKILL what outlives
        `grace` seconds; then remove the data directory."""
        for proc in reversed(self.processes):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        self.processes.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)
