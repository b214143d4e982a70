"""Alembic environment: one tree for SQLite (batch mode) and PostgreSQL, run through the async drivers."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from whatsapp_gateway.db import Base
from whatsapp_gateway.models import load_all_models

load_all_models()
target_metadata = Base.metadata

# Any number for pg_advisory_lock, the same in every replica: replicas starting together migrate one at a time.
_MIGRATION_LOCK_ID = 0x77616777  # "wagw"


def _run(connection: Connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite,
        compare_type=True,
        transaction_per_migration=True,
    )
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        connection.commit()
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK_ID})
            connection.commit()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is set by whatsapp_gateway.migrate"
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported; run `wagw migrate`.")
run_migrations_online()
