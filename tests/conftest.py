"""Fixtures shared by the whole suite.

Every test that uses `client` (or `app`, `database_url`) runs once on SQLite and once on PostgreSQL: the
`database_url` fixture is parametrized by backend, and each backend gets a fresh database with the real Alembic
migrations applied. Tables are emptied after each test.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.support.api import Api
from tests.support.postgres import PostgresUnavailable, postgres_server
from whatsapp_gateway import migrate
from whatsapp_gateway.app import create_app
from whatsapp_gateway.config import Settings, normalize_database_url
from whatsapp_gateway.db import Base
from whatsapp_gateway.models import load_all_models

load_all_models()

OPERATOR_KEY = "test-operator-" + secrets.token_urlsafe(24)


def _backends() -> list[str]:
    chosen = os.environ.get("WAGW_TEST_BACKENDS", "sqlite,postgresql")
    return [b.strip() for b in chosen.split(",") if b.strip()]


def postgres_required() -> bool:
    # In CI a missing PostgreSQL must fail the run, not quietly skip half of it.
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("WAGW_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    manager = postgres_server()
    try:
        url = manager.__enter__()
    except PostgresUnavailable as exc:
        if postgres_required():
            pytest.fail(f"PostgreSQL is required here (CI=true or WAGW_REQUIRE_POSTGRES=1): {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    yield url
    manager.__exit__(None, None, None)


async def create_postgres_database(server_url: str) -> tuple[str, str]:
    """A new empty database on the server: (its plain URL, its name)."""
    name = f"wagw_test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}", name


async def drop_postgres_database(server_url: str, name: str) -> None:
    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", _backends(), indirect=True, scope="session")


@pytest.fixture(scope="session")
async def empty_database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A fresh database with no tables, as an async SQLAlchemy URL."""
    if backend == "sqlite":
        directory = tmp_path_factory.mktemp("sqlite")
        yield normalize_database_url(f"sqlite:///{directory / 'gateway.db'}")
        return
    server_url = request.getfixturevalue("postgres_server_url")
    url, name = await create_postgres_database(server_url)
    yield normalize_database_url(url)
    await drop_postgres_database(server_url, name)


@pytest.fixture(scope="session")
async def database_url(empty_database_url: str) -> str:
    """A fresh database at the newest schema, made by the real migrations."""
    await asyncio.to_thread(migrate.upgrade, empty_database_url)
    return empty_database_url


def make_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "api_secret": OPERATOR_KEY,
        "migrate_on_start": False,
        "log_level": "WARNING",
        # Tests through the ASGI transport have no HTTP server workers could call back; tests that run workers
        # start a real server (tests/support/server.py).
        "reconciler_enabled": False,
        # No test talks to Meta: a waba instance made by a test that does not set up the fake Graph API gets a
        # Graph API that refuses connections at once.
        "waba_graph_url": "http://127.0.0.1:9",
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture(scope="session")
async def app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(database_url, tmp_path_factory.mktemp("data")))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        yield http
    await empty_tables(app)


async def empty_tables(app: FastAPI) -> None:
    async with app.state.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(text(f"DELETE FROM {table.name}"))  # noqa: S608 - our own table names


@pytest.fixture
def api(client: httpx.AsyncClient) -> Api:
    return Api(client, operator_key=OPERATOR_KEY)


@pytest.fixture
def no_workers_built(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """The provider registry as on a host where no worker of another language was built (`make workers` not run)."""
    from whatsapp_gateway.provider import registry

    monkeypatch.setattr(registry, "PROVIDERS_DIR", tmp_path / "no-providers")
    registry._providers.cache_clear()
    yield
    registry._providers.cache_clear()
