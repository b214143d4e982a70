from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_gateway.db import utcnow
from whatsapp_gateway.state.models import InstanceSnapshot, InstanceStateEntry


class StateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_many(self, instance_id: str, keys: Iterable[str]) -> dict[str, str]:
        keys = list(keys)
        if not keys:
            return {}
        rows = await self.session.execute(
            select(InstanceStateEntry.key, InstanceStateEntry.value).where(
                InstanceStateEntry.instance_id == instance_id, InstanceStateEntry.key.in_(keys)
            )
        )
        return {key: value for key, value in rows}

    async def put_many(self, instance_id: str, values: Mapping[str, str]) -> None:
        if not values:
            return
        now = utcnow()
        rows = [{"instance_id": instance_id, "key": k, "value": v, "updated_at": now} for k, v in values.items()]
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(InstanceStateEntry).values(rows)
        statement = statement.on_conflict_do_update(
            index_elements=["instance_id", "key"],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
        await self.session.execute(statement)

    async def delete_many(self, instance_id: str, keys: Iterable[str]) -> None:
        keys = list(keys)
        if keys:
            await self.session.execute(
                delete(InstanceStateEntry).where(
                    InstanceStateEntry.instance_id == instance_id, InstanceStateEntry.key.in_(keys)
                )
            )

    async def clear(self, instance_id: str) -> None:
        await self.session.execute(delete(InstanceStateEntry).where(InstanceStateEntry.instance_id == instance_id))

    async def list_keys(self, instance_id: str, prefix: str, *, limit: int) -> Sequence[str]:
        # A range instead of LIKE: prefixes may hold `%` or `_`, and a range uses the primary key's index.
        statement = (
            select(InstanceStateEntry.key)
            .where(InstanceStateEntry.instance_id == instance_id, InstanceStateEntry.key >= prefix)
            .order_by(InstanceStateEntry.key)
            .limit(limit)
        )
        if prefix:
            statement = statement.where(InstanceStateEntry.key < prefix + "\U0010ffff")
        return (await self.session.scalars(statement)).all()

    async def latest_snapshot(self, instance_id: str, name: str) -> InstanceSnapshot | None:
        return await self.session.scalar(
            select(InstanceSnapshot)
            .where(InstanceSnapshot.instance_id == instance_id, InstanceSnapshot.name == name)
            .order_by(InstanceSnapshot.generation.desc())
            .limit(1)
        )

    async def latest_generation(self, instance_id: str, name: str) -> int:
        generation = await self.session.scalar(
            select(func.max(InstanceSnapshot.generation)).where(
                InstanceSnapshot.instance_id == instance_id, InstanceSnapshot.name == name
            )
        )
        return generation or 0

    async def add_snapshot(self, snapshot: InstanceSnapshot) -> None:
        self.session.add(snapshot)
        await self.session.flush()

    async def prune_snapshots(self, instance_id: str, name: str, *, keep_from_generation: int) -> None:
        await self.session.execute(
            delete(InstanceSnapshot).where(
                InstanceSnapshot.instance_id == instance_id,
                InstanceSnapshot.name == name,
                InstanceSnapshot.generation < keep_from_generation,
            )
        )
