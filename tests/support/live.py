"""Fixtures for tests against a live gateway: the real `wagw run` with real workers, on SQLite and PostgreSQL.

Import the fixtures into a conftest or test module that needs them."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.conftest import create_postgres_database, drop_postgres_database
from tests.support.gateway import Gateway, kill_workers
from tests.support.server import running_server

OPERATOR_KEY = "system-operator-" + secrets.token_urlsafe(24)
SECRET_KEY = "system-secret-" + secrets.token_urlsafe(32)


@pytest.fixture
async def gateway_env(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[dict[str, str]]:
    """Settings for one gateway with a database of its own (its reconciler must see only its own instances)."""
    env = {
        "API_SECRET": OPERATOR_KEY,
        "SECRET_KEY": SECRET_KEY,
        "LOG_LEVEL": "INFO",
        "RECONCILE_INTERVAL_SECONDS": "0.5",
        # Small, so a test can exceed the media limit without pushing megabytes through.
        "MEDIA_MAX_BYTES": str(64 * 1024),
    }
    if backend == "sqlite":
        yield env
        return
    server_url = request.getfixturevalue("postgres_server_url")
    url, name = await create_postgres_database(server_url)
    yield {**env, "DATABASE_URL": url}
    await drop_postgres_database(server_url, name)


@contextlib.contextmanager
def started_gateway(
    data_dir: Path, env: dict[str, str], *, port: int | None = None, host: str = "127.0.0.1"
) -> Iterator[Gateway]:
    with running_server(data_dir, port=port, host=host, **env) as server:
        gateway = Gateway(server, OPERATOR_KEY, data_dir)
        try:
            yield gateway
        finally:
            gateway.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "data"
    yield directory
    kill_workers(directory)
