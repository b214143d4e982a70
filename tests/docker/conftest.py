"""Tests of the `docker` runtime on real Docker engines: the host's engine, and a second one as a second node.

`.ci/run` starts both and builds the images (`make images`). Elsewhere, run `make images` and
`deploy/engines/second-engine.sh start` first; without them these tests skip (in CI they fail instead).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.docker import Engine
from tests.support.gateway import Gateway
from tests.support.live import data_dir, gateway_env, started_gateway

__all__ = ["data_dir", "gateway_env"]  # fixtures, used by name

ENGINE_1 = os.environ.get("WAGW_TEST_DOCKER_HOST", "unix:///var/run/docker.sock")
ENGINE_2 = os.environ.get("WAGW_TEST_DOCKER_HOST_2", "unix:///run/docker-n2.sock")
# How containers on each engine reach the control plane on this host: the engine's bridge address.
ENGINE_2_GATEWAY_IP = os.environ.get("WAGW_TEST_DOCKER_2_GATEWAY_IP", "172.30.0.1")
SANDBOX_IMAGE = "wagw/sandbox-worker:dev"


def _required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("WAGW_REQUIRE_DOCKER") == "1"


def _unavailable(endpoint: str) -> str | None:
    try:
        with Engine(endpoint) as engine:
            engine.ping()
            if not engine.image_exists(SANDBOX_IMAGE):
                return f"{endpoint}: image {SANDBOX_IMAGE} missing (run `make images`)"
    except Exception as exc:
        return f"{endpoint}: no Docker engine ({exc})"
    return None


@pytest.fixture(scope="session")
def engines() -> tuple[str, str]:
    reasons = [r for r in (_unavailable(ENGINE_1), _unavailable(ENGINE_2)) if r]
    if reasons:
        message = "; ".join(reasons)
        if _required():
            pytest.fail(f"Docker engines are required here (CI=true or WAGW_REQUIRE_DOCKER=1): {message}")
        pytest.skip(message)
    return ENGINE_1, ENGINE_2


@pytest.fixture
def cluster(engines: tuple[str, str]) -> Iterator[str]:
    """A cluster name of the test's own: its containers and volumes, removed afterwards on both engines."""
    name = "t" + secrets.token_hex(4)
    yield name
    for endpoint in engines:
        with Engine(endpoint) as engine:
            engine.remove_cluster(name)


@pytest.fixture
def docker_env(gateway_env: dict[str, str], cluster: str, engines: tuple[str, str]) -> dict[str, str]:
    return {
        **gateway_env,
        "RUNTIME": "docker",
        "DOCKER_HOST": engines[0],
        "DOCKER_CLUSTER": cluster,
        "NODE_HEALTH_INTERVAL_SECONDS": "1",
        "NODE_LOST_AFTER_SECONDS": "10",
    }


@pytest.fixture
def docker_gateway(data_dir: Path, docker_env: dict[str, str]) -> Iterator[Gateway]:
    # Workers in containers call the control plane through the engines' bridges: it listens on every address.
    with started_gateway(data_dir, docker_env, host="0.0.0.0") as gateway:  # noqa: S104 - a test host
        yield gateway
