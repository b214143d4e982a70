from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_gateway.db import serialize_sequence_writers
from whatsapp_gateway.event.models import Event, EventScope

T = TypeVar("T")


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def existing_ids(self, instance_id: str, event_ids: Iterable[str]) -> set[str]:
        ids = list(event_ids)
        if not ids:
            return set()
        found = await self.session.scalars(
            select(Event.event_id).where(Event.instance_id == instance_id, Event.event_id.in_(ids))
        )
        return set(found)

    async def add_all(self, events: Sequence[Event]) -> None:
        if not events:
            return
        # One stream for all events: the tenant-wide and operator-wide lists walk `seq` across instances.
        await serialize_sequence_writers(self.session, "events")
        self.session.add_all(events)
        await self.session.flush()

    async def list_page(
        self, scope: EventScope, *, types: Sequence[str], after_seq: int | None, limit: int, internal_prefix: str
    ) -> Sequence[Event]:
        statement = (
            _scoped(select(Event), scope)
            .where(~Event.type.startswith(internal_prefix))
            .order_by(Event.seq)
            .limit(limit)
        )
        if types:
            statement = statement.where(Event.type.in_(types))
        if after_seq is not None:
            statement = statement.where(Event.seq > after_seq)
        return (await self.session.scalars(statement)).all()

    async def last_seq(self, scope: EventScope) -> int:
        return (await self.session.scalar(_scoped(select(func.max(Event.seq)), scope))) or 0


def _scoped(statement: Select[T], scope: EventScope) -> Select[T]:
    if scope.instance_id is not None:
        statement = statement.where(Event.instance_id == scope.instance_id)
    if scope.tenant_id is not None:
        statement = statement.where(Event.tenant_id == scope.tenant_id)
    return statement
