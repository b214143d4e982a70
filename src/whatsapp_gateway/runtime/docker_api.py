"""A small async client of the Docker Engine HTTP API (v1.41: Docker 20.10 and newer), for the `docker` runtime.

Only what the runtime needs: containers (create, start, stop, kill, remove, list by label, inspect, logs), volumes,
networks, ping and info. It speaks to one engine, reached by:

- `unix:///var/run/docker.sock`: the local engine;
- `tcp://host:2376` with TLS (CA, client certificate and key, as `dockerd --tlsverify` expects), or plain
  `tcp://host:2375` on a private network;
- `ssh://user@host[:port]`: an `ssh -L` tunnel to the remote engine's socket, run as a child process with the
  operator's SSH configuration (keys, known hosts); the HTTP then goes over the tunnel's local socket.

The docker Python SDK is synchronous (requests) and would need a thread per call; the Engine API is plain HTTP/JSON,
so httpx speaks it directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json as jsonlib
import os
import shutil
import ssl
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

API_VERSION = "v1.41"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
_SSH_TUNNEL_WAIT_SECONDS = 10.0


class DockerError(Exception):
    """The engine answered with an error, or could not be reached (`status` 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"docker {status}: {message}" if status else f"docker unreachable: {message}")
        self.status = status
        self.message = message


class EndpointInvalid(ValueError):
    """An endpoint string that is not unix://, tcp:// or ssh://."""


@dataclass(frozen=True)
class TLSMaterial:
    """PEM texts of a TLS-protected engine (`dockerd --tlsverify`): the CA that signed the engine's certificate, and
    the client certificate and key the engine trusts."""

    ca_pem: str
    cert_pem: str
    key_pem: str


def validate_endpoint(endpoint: str) -> str:
    """The endpoint, checked; raises EndpointInvalid with a reason the API can show."""
    parts = urlsplit(endpoint)
    if parts.scheme == "unix":
        if not parts.path.startswith("/"):
            raise EndpointInvalid("a unix endpoint is an absolute socket path: unix:///var/run/docker.sock")
    elif parts.scheme in ("tcp", "ssh"):
        if not parts.hostname:
            raise EndpointInvalid(f"a {parts.scheme} endpoint names a host: {parts.scheme}://host[:port]")
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError as exc:
            raise EndpointInvalid(f"invalid port: {exc}") from None
    else:
        raise EndpointInvalid("the endpoint starts with unix://, tcp:// or ssh://")
    return endpoint


def _ssl_context(tls: TLSMaterial) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=tls.ca_pem)
    # load_cert_chain reads files only: write the pair to a private temporary file for the call.
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=True) as chain:
        os.chmod(chain.name, 0o600)
        chain.write(tls.cert_pem.strip() + "\n" + tls.key_pem.strip() + "\n")
        chain.flush()
        context.load_cert_chain(chain.name)
    return context


class DockerEngine:
    """One Docker engine. Create with `await DockerEngine.connect(...)`; close with `aclose()`."""

    def __init__(self, endpoint: str, client: httpx.AsyncClient, tunnel: asyncio.subprocess.Process | None) -> None:
        self.endpoint = endpoint
        self._client = client
        self._tunnel = tunnel
        self._tunnel_dir: str | None = None

    @classmethod
    async def connect(cls, endpoint: str, *, tls: TLSMaterial | None = None) -> DockerEngine:
        parts = urlsplit(validate_endpoint(endpoint))
        tunnel: asyncio.subprocess.Process | None = None
        tunnel_dir: str | None = None
        if parts.scheme == "unix":
            transport = httpx.AsyncHTTPTransport(uds=parts.path)
            base_url = "http://docker"
        elif parts.scheme == "tcp":
            verify = _ssl_context(tls) if tls else True
            # The transport does the TLS: a client's own `verify` does not reach a transport given to it.
            transport = httpx.AsyncHTTPTransport(verify=verify)
            scheme = "https" if tls else "http"
            base_url = f"{scheme}://{parts.hostname}:{parts.port or (2376 if tls else 2375)}"
        else:
            tunnel_dir = tempfile.mkdtemp(prefix="wagw-ssh-")
            socket_path = str(Path(tunnel_dir) / "docker.sock")
            tunnel = await _open_ssh_tunnel(parts.hostname or "", parts.port, parts.username, socket_path)
            transport = httpx.AsyncHTTPTransport(uds=socket_path)
            base_url = "http://docker"
        client = httpx.AsyncClient(base_url=f"{base_url}/{API_VERSION}", transport=transport, timeout=DEFAULT_TIMEOUT)
        engine = cls(endpoint, client, tunnel)
        engine._tunnel_dir = tunnel_dir
        return engine

    async def aclose(self) -> None:
        await self._client.aclose()
        if self._tunnel is not None and self._tunnel.returncode is None:
            self._tunnel.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._tunnel.wait(), timeout=5)
        if self._tunnel_dir:
            shutil.rmtree(self._tunnel_dir, ignore_errors=True)

    # -- plumbing ------------------------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        ok: tuple[int, ...] = (200, 201, 204),
        timeout: float | None = None,  # noqa: ASYNC109 - passed on to httpx, per call
    ) -> httpx.Response:
        try:
            response = await self._client.request(
                method,
                path,
                params=params,
                json=json,
                timeout=httpx.Timeout(timeout, connect=5.0) if timeout is not None else DEFAULT_TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise DockerError(0, f"{type(exc).__name__}: {exc}") from exc
        if response.status_code not in ok:
            try:
                message = str(response.json().get("message", response.text))
            except ValueError:
                message = response.text
            raise DockerError(response.status_code, message.strip()[:500])
        return response

    async def _found(self, path: str) -> dict[str, Any] | None:
        """The object at `path`, or None when the engine has no such thing (404)."""
        response = await self._call("GET", path, ok=(200, 404))
        if response.status_code == 404:
            return None
        found: dict[str, Any] = response.json()
        return found

    # -- engine --------------------------------------------------------------------------------------------------

    async def ping(self) -> None:
        await self._call("GET", "/_ping", timeout=5.0)

    async def info(self) -> dict[str, Any]:
        info: dict[str, Any] = (await self._call("GET", "/info", timeout=10.0)).json()
        return info

    # -- containers ----------------------------------------------------------------------------------------------

    async def create_container(self, name: str, config: dict[str, Any]) -> str:
        response = await self._call("POST", "/containers/create", params={"name": name}, json=config)
        return str(response.json()["Id"])

    async def start_container(self, ref: str) -> None:
        await self._call("POST", f"/containers/{quote(ref)}/start", ok=(204, 304))

    async def stop_container(self, ref: str, *, grace_seconds: float) -> None:
        seconds = max(0, int(grace_seconds + 0.999))
        await self._call(
            "POST", f"/containers/{quote(ref)}/stop", params={"t": seconds}, ok=(204, 304), timeout=seconds + 30.0
        )

    async def kill_container(self, ref: str) -> None:
        # 409: not running. Both mean there is nothing left to kill.
        await self._call("POST", f"/containers/{quote(ref)}/kill", ok=(204, 409))

    async def remove_container(self, ref: str) -> None:
        await self._call("DELETE", f"/containers/{quote(ref)}", params={"force": "true", "v": "false"}, ok=(204, 404))

    async def list_containers(self, labels: dict[str, str]) -> list[dict[str, Any]]:
        filters = {"label": [f"{key}={value}" for key, value in labels.items()]}
        response = await self._call(
            "GET", "/containers/json", params={"all": "true", "filters": _json_param(filters)}, timeout=15.0
        )
        containers: list[dict[str, Any]] = response.json()
        return containers

    async def inspect_container(self, ref: str) -> dict[str, Any] | None:
        return await self._found(f"/containers/{quote(ref)}/json")

    async def container_logs(self, ref: str, *, tail: int) -> list[str]:
        response = await self._call(
            "GET",
            f"/containers/{quote(ref)}/logs",
            params={"stdout": "true", "stderr": "true", "tail": str(tail), "timestamps": "false"},
            ok=(200, 404),
        )
        if response.status_code == 404:
            return []
        return demultiplex(response.content).decode("utf-8", "replace").splitlines()

    # -- volumes and networks ------------------------------------------------------------------------------------

    async def create_volume(self, name: str, labels: dict[str, str]) -> None:
        # Creating an existing volume returns it: idempotent.
        await self._call("POST", "/volumes/create", json={"Name": name, "Labels": labels})

    async def remove_volume(self, name: str) -> None:
        await self._call("DELETE", f"/volumes/{quote(name)}", params={"force": "true"}, ok=(204, 404))

    async def list_volumes(self, labels: dict[str, str]) -> list[dict[str, Any]]:
        filters = {"label": [f"{key}={value}" for key, value in labels.items()]}
        response = await self._call("GET", "/volumes", params={"filters": _json_param(filters)})
        volumes: list[dict[str, Any]] = response.json().get("Volumes") or []
        return volumes

    async def inspect_network(self, name: str) -> dict[str, Any] | None:
        return await self._found(f"/networks/{quote(name)}")

    async def image_exists(self, image: str) -> bool:
        response = await self._call("GET", f"/images/{quote(image, safe='')}/json", ok=(200, 404))
        return response.status_code == 200


def _json_param(value: object) -> str:
    return jsonlib.dumps(value, separators=(",", ":"))


def demultiplex(raw: bytes) -> bytes:
    """The text of a container log stream without a TTY: frames of an 8-byte header (stream, 0, 0, 0, big-endian
    length) and a payload. Bytes that do not parse as frames (a TTY container) are returned as they are."""
    out = bytearray()
    offset = 0
    while offset + 8 <= len(raw):
        stream, length = raw[offset], struct.unpack(">I", raw[offset + 4 : offset + 8])[0]
        if stream not in (0, 1, 2) or raw[offset + 1 : offset + 4] != b"\0\0\0":
            return raw
        out += raw[offset + 8 : offset + 8 + length]
        offset += 8 + length
    return bytes(out) if offset == len(raw) else raw


async def _open_ssh_tunnel(
    host: str, port: int | None, user: str | None, socket_path: str
) -> asyncio.subprocess.Process:
    """`ssh -L socket_path:/var/run/docker.sock`: the engine's socket on the remote host, forwarded to a local one."""
    if shutil.which("ssh") is None:
        raise DockerError(0, "ssh endpoints need the ssh client on the control plane's host")
    destination = f"{user}@{host}" if user else host
    command = [
        "ssh",
        "-NT",
        "-o",
        "BatchMode=yes",
        "-o",
        "ExitOnForwardFailure=yes",
        "-o",
        "ServerAliveInterval=15",
        "-L",
        f"{socket_path}:/var/run/docker.sock",
    ]
    if port:
        command += ["-p", str(port)]
    command.append(destination)
    process = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    deadline = asyncio.get_running_loop().time() + _SSH_TUNNEL_WAIT_SECONDS
    while not os.path.exists(socket_path):  # noqa: ASYNC240 - a stat of a local socket file, in a bounded poll
        if process.returncode is not None or asyncio.get_running_loop().time() > deadline:
            if process.returncode is None:
                process.kill()
            stderr = (await process.stderr.read()).decode(errors="replace") if process.stderr else ""
            raise DockerError(0, f"ssh tunnel to {destination} failed: {stderr.strip()[:300] or 'timed out'}")
        await asyncio.sleep(0.1)
    return process
