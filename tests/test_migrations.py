"""The one Alembic tree upgrades and downgrades on both databases, and matches the models."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from whatsapp_gateway import migrate
from whatsapp_gateway.db import Base


async def _inspect(url: str) -> tuple[set[str], list[object]]:
    engine = create_async_engine(url, poolclass=NullPool)

    def read(connection: Connection) -> tuple[set[str], list[object]]:
        tables = set(inspect(connection).get_table_names())
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        return tables, differences

    try:
        async with engine.connect() as connection:
            return await connection.run_sync(read)
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade(empty_database_url: str) -> None:
    url = empty_database_url
    await asyncio.to_thread(migrate.upgrade, url)
    tables, differences = await _inspect(url)
    assert {"tenants", "api_keys", "instances", "alembic_version"} <= tables
    assert differences == [], "the migrations and the models disagree; write a migration"

    await asyncio.to_thread(migrate.downgrade, url, "base")
    tables, _ = await _inspect(url)
    assert tables <= {"alembic_version"}

    await asyncio.to_thread(migrate.upgrade, url)
    tables, differences = await _inspect(url)
    assert {"tenants", "api_keys", "instances"} <= tables
    assert differences == []


def test_single_head() -> None:
    assert migrate.head_revision() is not None
