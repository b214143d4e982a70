"""A real gateway (`wagw run`) with real sandbox workers, driven over HTTP the way a customer drives it."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.support.server import RunningServer

T = TypeVar("T")

# A 1x1 PNG: real image bytes for media tests.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def wait_for(check: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@dataclass
class Tenant:
    id: str
    headers: dict[str, str]


class Gateway:
    def __init__(self, server: RunningServer, operator_key: str, data_dir: Path) -> None:
        self.server = server
        self.data_dir = data_dir
        self.operator = {"Authorization": f"Bearer {operator_key}"}
        self.http = httpx.Client(base_url=server.base_url, timeout=30)

    def close(self) -> None:
        self.http.close()

    def new_tenant(self) -> Tenant:
        suffix = os.urandom(4).hex()
        tenant = self.http.post(
            "/api/tenants", json={"name": f"t-{suffix}", "email": f"{suffix}@example.com"}, headers=self.operator
        )
        assert tenant.status_code == 201, tenant.text
        key = self.http.post(f"/api/tenants/{tenant.json()['id']}/keys", json={"name": "k"}, headers=self.operator)
        assert key.status_code == 201, key.text
        return Tenant(tenant.json()["id"], {"Authorization": f"Bearer {key.json()['key']}"})

    def new_instance(self, tenant: Tenant, phone: str, **fields: Any) -> dict[str, Any]:
        response = self.http.post(
            "/api/instances", json={"phone": phone, "provider": "sandbox", **fields}, headers=tenant.headers
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def instance(self, tenant: Tenant, instance_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/instances/{instance_id}", headers=tenant.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_state(self, tenant: Tenant, instance_id: str, state: str, *, timeout: float = 15) -> dict[str, Any]:
        return wait_for(
            lambda: (i := self.instance(tenant, instance_id))["connection_state"] == state and i,
            timeout=timeout,
            what=f"{instance_id} to be {state}",
        )

    def qr(self, tenant: Tenant, instance_id: str, *, timeout: float = 15) -> str:
        def fetch() -> str | None:
            response = self.http.get(
                f"/api/instances/{instance_id}/qr", params={"format": "json"}, headers=tenant.headers
            )
            return str(response.json()["qr"]) if response.status_code == 200 else None

        return wait_for(fetch, timeout=timeout, what=f"a QR for {instance_id}")

    def pair(self, tenant: Tenant, instance_id: str) -> dict[str, Any]:
        qr = self.qr(tenant, instance_id)
        scanned = self.http.post("/api/sandbox/scan", json={"qr": qr}, headers=tenant.headers)
        assert scanned.status_code == 200, scanned.text
        return self.wait_state(tenant, instance_id, "connected")

    def events(self, tenant: Tenant, instance_id: str, *types: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 200, "type": list(types)}
            if cursor:
                params["cursor"] = cursor
            page = self.http.get(f"/api/instances/{instance_id}/events", params=params, headers=tenant.headers)
            assert page.status_code == 200, page.text
            found.extend(page.json()["data"])
            cursor = page.json()["next_cursor"]
            if not cursor:
                return found

    def send(self, tenant: Tenant, instance_id: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return self.http.post(
            f"/api/instances/{instance_id}/messages", json=body, headers={**tenant.headers, **headers}
        )

    def message(self, tenant: Tenant, instance_id: str, message_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/instances/{instance_id}/messages/{message_id}", headers=tenant.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def inbound(self, tenant: Tenant, instance_id: str, text: str) -> None:
        """A text from a simulated outside contact (the sandbox network)."""
        response = self.http.post(
            "/api/sandbox/inbound",
            json={"instance": instance_id, "from": "+4915100000001", "type": "text", "text": text},
            headers=tenant.headers,
        )
        assert response.status_code == 202, response.text

    def received_texts(self, tenant: Tenant, instance_id: str) -> list[str]:
        return [e["data"].get("text", "") for e in self.events(tenant, instance_id, "message.received")]

    def worker_record(self, instance_id: str) -> dict[str, Any]:
        """The local runtime's record of the instance's worker (pid, epoch)."""
        path = self.data_dir / "instances" / instance_id / "worker.json"
        return dict(json.loads(path.read_text()))


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def worker_pids(instance_id: str) -> list[int]:
    """Every live process whose environment says it is a worker of `instance_id`: there must never be two."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if f"INSTANCE_ID={instance_id}".encode() in environ.split(b"\0") and pid_alive(int(entry.name)):
            pids.append(int(entry.name))
    return pids


def kill_workers(data_dir: Path) -> None:
    """Workers outlive the control plane by design; a test must not leave any behind."""
    for record in (data_dir / "instances").glob("*/worker.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            pid = int(json.loads(record.read_text())["pid"])
            if pid_alive(pid):
                os.killpg(pid, signal.SIGKILL)
