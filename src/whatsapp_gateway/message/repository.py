from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_gateway.message.models import Message, MessageStatus


class MessageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, message: Message) -> Message:
        self.session.add(message)
        await self.session.flush()
        return message

    async def get(self, instance_id: str, message_id: str) -> Message | None:
        message = await self.session.get(Message, message_id)
        return message if message is not None and message.instance_id == instance_id else None

    async def find_by_idempotency_key(self, instance_id: str, key: str) -> Message | None:
        return await self.session.scalar(
            select(Message).where(Message.instance_id == instance_id, Message.idempotency_key == key)
        )

    async def find_by_provider_id(self, instance_id: str, provider_message_id: str) -> Message | None:
        return await self.session.scalar(
            select(Message)
            .where(Message.instance_id == instance_id, Message.provider_message_id == provider_message_id)
            .limit(1)
        )

    async def list_page(
        self, instance_id: str, *, status: MessageStatus | None, after_id: str | None, limit: int
    ) -> Sequence[Message]:
        statement = select(Message).where(Message.instance_id == instance_id).order_by(Message.id).limit(limit)
        if status is not None:
            statement = statement.where(Message.status == status)
        if after_id is not None:
            statement = statement.where(Message.id > after_id)
        return (await self.session.scalars(statement)).all()

    async def delete(self, message: Message) -> None:
        await self.session.delete(message)
        await self.session.flush()

    async def queued_before(self, cutoff: dt.datetime, *, limit: int) -> Sequence[Message]:
        return (
            await self.session.scalars(
                select(Message)
                .where(Message.status == MessageStatus.queued, Message.created_at < cutoff)
                .order_by(Message.created_at)
                .limit(limit)
            )
        ).all()
