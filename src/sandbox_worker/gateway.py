"""Calls to the control plane's internal API for this instance: auth, fencing, JSON (docs/worker-protocol.md §2, §7).

Every call goes through `GatewayClient.call`, so the fencing rule holds everywhere: the first `409 epoch_superseded`
marks the client superseded, tells the worker, and every later call fails without touching the network.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from sandbox_worker.http_client import HttpClient, HttpClientError


class EpochSuperseded(Exception):
    """A newer worker owns this instance: stop at once."""


class GatewayUnavailable(Exception):
    """No usable answer: unreachable, timed out, 5xx, or (for state calls) any unexpected status."""


@dataclass(frozen=True)
class GatewayAnswer:
    status: int
    body: bytes

    def json(self) -> object:
        try:
            return json.loads(self.body) if self.body else None
        except (ValueError, UnicodeDecodeError):
            return None

    def json_object(self) -> dict[str, object]:
        value = self.json()
        return value if isinstance(value, dict) else {}

    @property
    def code(self) -> str:
        code = self.json_object().get("code")
        return code if isinstance(code, str) else ""

    @property
    def detail(self) -> str:
        detail = self.json_object().get("detail")
        return detail if isinstance(detail, str) else self.body[:200].decode("utf-8", "replace")


class GatewayClient:
    def __init__(
        self,
        http: HttpClient,
        *,
        instance_id: str,
        token: str,
        epoch: int,
        on_superseded: Callable[[], None],
    ) -> None:
        self._http = http
        self._base = f"/internal/v1/instances/{quote(instance_id, safe='')}"
        self._headers = [("authorization", f"Bearer {token}"), ("x-worker-epoch", str(epoch))]
        self._on_superseded = on_superseded
        self.superseded = False

    async def call(
        self, method: str, path: str, payload: object | None = None, *, time_limit: float = 15.0
    ) -> GatewayAnswer:
        """`path` is relative to the instance's base (`/events`, `/state`, `/sandbox/poll?…`)."""
        if self.superseded:
            raise EpochSuperseded
        headers = list(self._headers)
        body: bytes | None = None
        if payload is not None:
            body = json.dumps(payload).encode()
            headers.append(("content-type", "application/json"))
        elif method in ("POST", "PUT"):
            body = b""
        try:
            response = await self._http.request(
                method, self._base + path, headers=headers, body=body, time_limit=time_limit
            )
        except HttpClientError as exc:
            raise GatewayUnavailable(str(exc)) from None
        if self.superseded:
            # Another call saw the fence while this one was in flight.
            raise EpochSuperseded
        answer = GatewayAnswer(response.status, response.body)
        if answer.status == 409 and answer.code == "epoch_superseded":
            self.superseded = True
            self._on_superseded()
            raise EpochSuperseded
        return answer

    async def post_events(self, events: list[dict[str, object]]) -> GatewayAnswer:
        return await self.call("POST", "/events", {"events": events}, time_limit=30.0)

    async def state(self, batch: dict[str, object]) -> dict[str, str | None]:
        """One key-value batch (§7); returns the `values` it read."""
        answer = await self.call("POST", "/state", batch)
        if not 200 <= answer.status < 300:
            raise GatewayUnavailable(f"state store answered {answer.status} {answer.code}".rstrip())
        values = answer.json_object().get("values")
        if not isinstance(values, dict):
            return {}
        return {str(key): value if isinstance(value, str) else None for key, value in values.items()}

    async def close(self) -> None:
        await self._http.close()
