"""System tests: the real `wagw run` with real worker processes, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gateway import Gateway
from tests.support.live import data_dir, gateway_env, started_gateway

__all__ = ["data_dir", "gateway_env"]  # fixtures, used by name


@pytest.fixture
def gateway(data_dir: Path, gateway_env: dict[str, str]) -> Iterator[Gateway]:
    with started_gateway(data_dir, gateway_env) as gateway:
        yield gateway
