from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_gateway.tenant.models import Tenant


class TenantRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, tenant: Tenant) -> Tenant:
        self.session.add(tenant)
        await self.session.flush()
        return tenant

    async def get(self, tenant_id: str) -> Tenant | None:
        return await self.session.get(Tenant, tenant_id)

    async def list_page(self, *, limit: int, after_id: str | None) -> Sequence[Tenant]:
        statement = select(Tenant).order_by(Tenant.id).limit(limit)
        if after_id is not None:
            statement = statement.where(Tenant.id > after_id)
        return (await self.session.scalars(statement)).all()
