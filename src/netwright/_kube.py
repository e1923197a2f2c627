"""Requests to the Kubernetes API: a small aiohttp client on kopf's credentials.

Why it exists: kopf watches (and logs in: in-cluster service account or KUBECONFIG),
but offers no public call for arbitrary writes; this client takes the `ConnectionInfo`
kopf's login produced and sends exactly the requests the controller or the agent
decided, each one named in the audit log by its user agent
(`netwright-<component>/<version> (<identity>)`). It never decides anything. It lives
below both front ends, which may not import each other, and imports no kopf.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import ssl
import tempfile
from typing import TYPE_CHECKING, Any, Self

import aiohttp

from netwright._version import __version__
from netwright.model.spec import GROUP_VERSION

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import TracebackType


def resource_path(plural: str, name: str | None = None) -> str:
    """The API path of core Nodes or of one of netwright's kinds (by plural), or of one object."""
    base = "/api/v1/nodes" if plural == "nodes" else f"/apis/{GROUP_VERSION}/{plural}"
    return base if name is None else f"{base}/{name}"


def resource_version(obj: Mapping[str, Any]) -> int:
    """An object's resourceVersion as an integer (0 when absent or not a number)."""
    try:
        return int(obj.get("metadata", {}).get("resourceVersion", "0"))
    except ValueError:  # opaque by contract; integers on every etcd-backed server
        return 0


def api_time() -> str:
    """The time as the API writes it (`lastTransitionTime`, Events)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    """A non-2xx answer: its status code and the server's message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _ssl_context(info: Any) -> ssl.SSLContext | bool:
    if info.insecure:
        return False
    context = ssl.create_default_context()
    if info.ca_path:
        context.load_verify_locations(cafile=os.fsdecode(info.ca_path))
    elif info.ca_data:
        data = info.ca_data if isinstance(info.ca_data, str) else info.ca_data.decode()
        if "BEGIN CERTIFICATE" not in data:  # kubeconfig's certificate-authority-data
            data = base64.b64decode(data).decode()
        context.load_verify_locations(cadata=data)
    cert, key = info.certificate_path, info.private_key_path
    if info.certificate_data and info.private_key_data:
        # ssl loads client certificates only from files: write them where only we read.
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for name, value in (("cert", info.certificate_data), ("key", info.private_key_data)):
                raw = value if isinstance(value, bytes) else value.encode()
                if b"BEGIN" not in raw:
                    raw = base64.b64decode(raw)
                path = os.path.join(tmp, name)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(raw)
                paths.append(path)
            context.load_cert_chain(paths[0], paths[1])
    elif cert and key:
        context.load_cert_chain(os.fsdecode(cert), os.fsdecode(key))
    return context


class Client:
    """JSON requests to one API server; `async with Client(info) as api: ...`."""

    def __init__(
        self,
        info: Any,
        *,
        component: str,
        identity: str = "",
        observe: Callable[[str, str, int], None] | None = None,
    ) -> None:
        self._info = info
        #: Told (method, path, status code; 0: no answer) after every request: metrics.
        self._observe = observe
        agent = f"netwright-{component}/{__version__}"
        self._agent = f"{agent} ({identity})" if identity else agent
        self._server = str(info.server).rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        headers = {"User-Agent": self._agent, "Accept": "application/json"}
        if self._info.token:
            headers["Authorization"] = f"{self._info.scheme or 'Bearer'} {self._info.token}"
        self._session = aiohttp.ClientSession(
            headers=headers,
            connector=aiohttp.TCPConnector(ssl=_ssl_context(self._info)),
            timeout=aiohttp.ClientTimeout(total=30),
        )
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json"
    ) -> dict[str, Any]:
        assert self._session is not None
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        code = 0
        try:
            async with self._session.request(
                method, self._server + path, data=data, headers=headers
            ) as resp:
                code = resp.status
                text = await resp.text()
        except Exception:  # no answer (code 0), or one cut short; a cancel is no error
            if self._observe is not None:
                self._observe(method, path, code)
            raise
        if self._observe is not None:
            self._observe(method, path, code)
        if code >= 300:
            try:
                message = json.loads(text).get("message", text)
            except ValueError:
                message = text
            raise ApiError(code, str(message))
        return json.loads(text) if text else {}

    async def get(self, path: str) -> dict[str, Any]:
        return await self.request("GET", path)

    async def create(self, path: str, body: Any) -> dict[str, Any]:
        return await self.request("POST", path, body)

    async def replace(self, path: str, body: Any) -> dict[str, Any]:
        return await self.request("PUT", path, body)

    async def merge_patch(self, path: str, body: Any) -> dict[str, Any]:
        return await self.request("PATCH", path, body, content_type="application/merge-patch+json")

    async def json_patch(self, path: str, operations: list[dict[str, Any]]) -> dict[str, Any]:
        """A JSON patch (RFC 6902): what it does not name is left, and what it replaces
        is replaced whole (a merge patch keeps keys the new value leaves out)."""
        return await self.request(
            "PATCH", path, operations, content_type="application/json-patch+json"
        )

    async def delete(self, path: str) -> dict[str, Any]:
        return await self.request("DELETE", path)


def liveness_endpoint(port: int) -> str | None:
    """kopf's liveness endpoint on `port` (all addresses, `/healthz`); None for port 0.

    kopf answers it (200) while its event loop runs its watches; the processes stop
    themselves when their own loop ends, so a live endpoint means a working process.
    """
    return f"http://0.0.0.0:{port}/healthz" if port else None


#: Where a pod's service account token is mounted (kopf's in-cluster login reads it).
SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105 - a path


def credentials_missing(kubeconfig: str | None) -> str | None:
    """Why no login can work (one line), or None: a kubeconfig named, an in-cluster
    service account, or a kubeconfig where `KUBECONFIG` or ~/.kube/config says."""
    if kubeconfig:
        return None
    if os.environ.get("KUBERNETES_SERVICE_HOST") and os.path.isfile(SERVICE_ACCOUNT_TOKEN):
        return None
    paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if any(os.path.isfile(p) for p in paths or [os.path.expanduser("~/.kube/config")]):
        return None
    return (
        "no credentials for the API: not in a cluster (no service account token) and no "
        "kubeconfig (give --kubeconfig FILE, or set KUBECONFIG, or write ~/.kube/config)"
    )
