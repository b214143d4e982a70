"""The sandbox hub API (docs/providers/sandbox.md, "Hub API"): the sandbox's stand-in for WhatsApp's servers."""

from __future__ import annotations

from sandbox_worker.gateway import GatewayAnswer, GatewayClient, GatewayUnavailable

POLL_WAIT_SECONDS = 25
# Statuses worth retrying later rather than reporting: the hub is busy, restarting, or does not know this epoch yet.
_TRANSIENT = {401, 408, 425, 429}


class HubRefused(Exception):
    """The hub answered with a definite 4xx problem (e.g. `409 not_connected`, `422 phone_mismatch`)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"hub answered {status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


class HubClient:
    def __init__(self, gateway: GatewayClient) -> None:
        self._gateway = gateway

    async def _call(
        self, method: str, path: str, payload: object | None = None, *, time_limit: float = 15.0
    ) -> GatewayAnswer:
        answer = await self._gateway.call(method, "/sandbox" + path, payload, time_limit=time_limit)
        if answer.status >= 500 or answer.status in _TRANSIENT:
            raise GatewayUnavailable(f"hub {path} answered {answer.status} {answer.code}".rstrip())
        if answer.status >= 300:
            raise HubRefused(answer.status, answer.code or "hub_error", answer.detail)
        return answer

    async def _object(self, method: str, path: str, payload: object | None = None) -> dict[str, object]:
        answer = await self._call(method, path, payload)
        value = answer.json()
        if not isinstance(value, dict):
            raise GatewayUnavailable(f"hub {path} answered something that is not a JSON object")
        return value

    async def connect(self, session: dict[str, object] | None) -> dict[str, object]:
        return await self._object("POST", "/connect", {"session": session})

    async def qr(self) -> dict[str, object]:
        return await self._object("POST", "/qr")

    async def pair_code(self, phone: str) -> dict[str, object]:
        return await self._object("POST", "/pair-code", {"phone": phone})

    async def poll(self, after: int, wait: int = POLL_WAIT_SECONDS) -> list[dict[str, object]]:
        answer = await self._call("GET", f"/poll?after={after}&wait={wait}", time_limit=wait + 15.0)
        body = answer.json()
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise GatewayUnavailable("hub /poll answered without an items list")
        return [item for item in items if isinstance(item, dict)]

    async def send(self, message: dict[str, object]) -> dict[str, object]:
        # Inline media can be large; give the hub time to take it.
        answer = await self._call("POST", "/messages", message, time_limit=60.0)
        body = answer.json()
        if not isinstance(body, dict):
            raise GatewayUnavailable("hub /messages answered something that is not a JSON object")
        return body

    async def read(self, chat: str, message_ids: list[str]) -> None:
        await self._call("POST", "/read", {"chat": chat, "message_ids": message_ids})

    async def presence(self, chat: str | None, state: str) -> None:
        payload: dict[str, object] = {"state": state}
        if chat is not None:
            payload["chat"] = chat
        await self._call("POST", "/presence", payload)

    async def check_contacts(self, phones: list[str]) -> dict[str, object]:
        return await self._object("POST", "/contacts/check", {"phones": phones})

    async def logout(self) -> None:
        await self._call("POST", "/logout")
