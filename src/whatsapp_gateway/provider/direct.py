"""Providers the control plane drives itself, without a worker process: `waba` (Meta hosts the number).

The message service hands a message to a `DirectProvider` where it would otherwise call the instance's worker, and
with the same contract, so the send flow (stored `queued` first, idempotent by id, retried while `queued`) is one:
- the answer is the worker's `POST /v1/messages` answer: `{"provider_message_id", "status"}`, where `status` may be
  `failed` with an `error` (the provider took the request but refused the message; it is kept, as failed);
- `WorkerUnavailable` means "not now": the message stays queued and is retried;
- `WorkerProblem` with a status below 500 is a refusal for good, passed on to the API client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_gateway.instance.models import Instance, Provider
from whatsapp_gateway.message.models import Message


class DirectProvider(Protocol):
    async def send_message(self, session: AsyncSession, instance: Instance, message: Message) -> dict[str, Any]:
        """Send one stored message. May record events in `session`; the caller commits."""
        ...

    async def mark_read(self, session: AsyncSession, instance: Instance, message_ids: list[str]) -> None: ...

    async def presence(
        self, session: AsyncSession, instance: Instance, chat: str, state: str, message_id: str | None
    ) -> None: ...

    async def media(self, session: AsyncSession, instance: Instance, media_id: str) -> tuple[bytes, str]: ...


DirectProviders = Mapping[Provider, DirectProvider]
