from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_gateway.instance.models import Instance, InstanceStatus, Provider


class InstanceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, instance: Instance) -> Instance:
        self.session.add(instance)
        await self.session.flush()
        return instance

    async def get(self, instance_id: str) -> Instance | None:
        return await self.session.get(Instance, instance_id)

    async def find_by_phone(self, phone_number: str, *, tenant_id: str | None) -> Sequence[Instance]:
        statement = select(Instance).where(Instance.phone_number == phone_number).order_by(Instance.id).limit(2)
        if tenant_id is not None:
            statement = statement.where(Instance.tenant_id == tenant_id)
        return (await self.session.scalars(statement)).all()

    async def list_page(
        self,
        *,
        tenant_id: str | None,
        provider: Provider | None,
        status: InstanceStatus | None,
        limit: int,
        after_id: str | None,
    ) -> Sequence[Instance]:
        statement = select(Instance).order_by(Instance.id).limit(limit)
        if tenant_id is not None:
            statement = statement.where(Instance.tenant_id == tenant_id)
        if provider is not None:
            statement = statement.where(Instance.provider == provider)
        if status is not None:
            statement = statement.where(Instance.status == status)
        if after_id is not None:
            statement = statement.where(Instance.id > after_id)
        return (await self.session.scalars(statement)).all()

    async def delete(self, instance: Instance) -> None:
        await self.session.delete(instance)
        await self.session.flush()

    async def list_by_providers(self, providers: Sequence[Provider]) -> Sequence[Instance]:
        return (await self.session.scalars(select(Instance).where(Instance.provider.in_(providers)))).all()
