from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_gateway.api_key.models import ApiKey


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, api_key: ApiKey) -> ApiKey:
        self.session.add(api_key)
        await self.session.flush()
        return api_key

    async def get(self, key_id: str) -> ApiKey | None:
        return await self.session.get(ApiKey, key_id)

    async def find_active_by_prefix(self, prefix: str) -> Sequence[ApiKey]:
        statement = select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
        return (await self.session.scalars(statement)).all()

    async def list_page(self, tenant_id: str, *, limit: int, after_id: str | None) -> Sequence[ApiKey]:
        statement = select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.id).limit(limit)
        if after_id is not None:
            statement = statement.where(ApiKey.id > after_id)
        return (await self.session.scalars(statement)).all()

    async def touch(self, key_id: str, when: dt.datetime) -> None:
        await self.session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=when))
