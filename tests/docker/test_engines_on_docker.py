"""Each real engine's worker under the real control plane, on both runtimes: it starts, and the API reports the state
the worker reports. WhatsApp is unreachable from this host, so that state is a connection attempt, never
`connected` (each provider's page says what was verified live)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.docker.conftest import ENGINE_1
from tests.support.docker import Engine
from tests.support.gateway import Gateway, wait_for
from tests.support.live import started_gateway
from whatsapp_gateway.instance.models import Provider
from whatsapp_gateway.provider import registry

ENGINES = ["whatsmeow", "baileys", "wawebjs"]
OFFLINE_STATES = {"starting", "connecting", "disconnected"}
# A browser needs more than the default 512 MB.
RESOURCES = {"wawebjs": {"memory": "1g"}}


def _require(provider: str, *, image: bool) -> None:
    reasons = []
    unavailable = registry.get(Provider(provider)).unavailable_reason
    if unavailable:
        reasons.append(unavailable)
    if image:
        with Engine(ENGINE_1) as engine:
            if not engine.image_exists(f"wagw/{provider}-worker:dev"):
                reasons.append(f"image wagw/{provider}-worker:dev is missing (make images)")
    if reasons:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("; ".join(reasons))
        pytest.skip("; ".join(reasons))


def _reported_offline(gateway: Gateway, tenant: Any, instance_id: str) -> dict[str, Any]:
    def reported() -> dict[str, Any] | None:
        found = gateway.instance(tenant, instance_id)
        return found if found["status"] == "running" and found["connection_state"] in OFFLINE_STATES else None

    instance = wait_for(reported, timeout=60, what=f"{instance_id} to report its connection attempts")
    assert instance["connection_state"] != "connected"
    events = gateway.events(tenant, instance_id, "instance.status")
    assert events, "the worker reported no state"
    return instance


@pytest.fixture
def local_gateway(data_dir: Path, gateway_env: dict[str, str]) -> Iterator[Gateway]:
    with started_gateway(data_dir, gateway_env) as gateway:
        yield gateway


@pytest.mark.parametrize("provider", ENGINES)
def test_each_engine_runs_as_a_local_process(local_gateway: Gateway, provider: str) -> None:
    _require(provider, image=False)
    tenant = local_gateway.new_tenant()
    instance = local_gateway.new_instance(
        tenant, "+14155550801", provider=provider, resources=RESOURCES.get(provider, {})
    )
    _reported_offline(local_gateway, tenant, instance["id"])
    assert local_gateway.worker_record(instance["id"])["epoch"] == 1


@pytest.mark.parametrize("provider", ENGINES)
def test_each_engine_runs_in_its_container(
    docker_gateway: Gateway, cluster: str, engines: tuple[str, str], provider: str
) -> None:
    _require(provider, image=True)
    tenant = docker_gateway.new_tenant()
    instance = docker_gateway.new_instance(
        tenant, "+14155550811", provider=provider, resources=RESOURCES.get(provider, {})
    )
    found = _reported_offline(docker_gateway, tenant, instance["id"])
    assert found["node"] == "default"
    with Engine(engines[0]) as engine:
        containers = engine.containers(cluster, instance["id"], running_only=True)
        assert len(containers) == 1
        inspected = engine.inspect(containers[0]["Id"])
    assert inspected["Config"]["Image"] == f"wagw/{provider}-worker:dev"
    assert inspected["HostConfig"]["ReadonlyRootfs"] is True
    assert inspected["Config"]["User"] not in ("", "0", "root")
