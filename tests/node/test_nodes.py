"""Nodes on a gateway with the local runtime (the real engines are in tests/docker/): access, validation, and the
placement rule on its own."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from tests.support.api import Api
from whatsapp_gateway.instance.models import Instance
from whatsapp_gateway.node.models import Node, NodeStatus
from whatsapp_gateway.node.service import NoNodeAvailable, choose_node

GiB = 1024**3


async def test_nodes_are_for_the_operator_and_need_the_docker_runtime(client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    body = {"name": "n1", "endpoint": "unix:///var/run/docker.sock"}
    assert (await client.post("/api/nodes", json=body, headers=tenant.headers)).status_code == 403
    assert (await client.get("/api/nodes", headers=tenant.headers)).status_code == 403
    assert (await client.post("/api/nodes", json=body)).status_code == 401
    refused = await client.post("/api/nodes", json=body, headers=api.operator)
    assert refused.status_code == 409
    assert refused.json()["code"] == "nodes_need_docker_runtime"
    missing = await client.get("/api/nodes/nope", headers=api.operator)
    assert missing.status_code == 404
    assert missing.json()["code"] == "node_not_found"
    listed = await client.get("/api/nodes", headers=api.operator)
    assert listed.status_code == 200, listed.text
    assert listed.json()["data"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Bad_Name", "endpoint": "unix:///var/run/docker.sock"},
        {"name": "n1", "endpoint": "http://host:2375"},
        {"name": "n1", "endpoint": "unix://relative.sock"},
        {"name": "n1", "endpoint": "tcp://:2375"},
        {"name": "n1", "endpoint": "tcp://host:notaport"},
        {"name": "n1", "endpoint": "ssh://"},
        {"name": "n1", "endpoint": "unix:///s", "capacity_memory": "lots"},
        {"name": "n1", "endpoint": "unix:///s", "capacity_memory": "1m"},
        {"name": "n1", "endpoint": "unix:///s", "labels": {"bad key!": "x"}},
        {"name": "n1", "endpoint": "unix:///s", "gateway_url": "ftp://x"},
        {"name": "n1", "endpoint": "unix:///s", "surprise": True},
        {"name": "n1", "endpoint": "unix:///s", "tls": {"ca_pem": "x"}},
    ],
)
async def test_bad_node_bodies_are_422(client: httpx.AsyncClient, api: Api, body: dict[str, object]) -> None:
    response = await client.post("/api/nodes", json=body, headers=api.operator)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"


async def test_migrating_on_the_local_runtime_is_refused(client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    instance = await api.new_instance(tenant)
    response = await client.post(
        f"/api/instances/{instance['id']}/migrate", json={"target_node": "n2"}, headers=api.operator
    )
    assert response.status_code == 409
    assert response.json()["code"] == "migration_unsupported"
    as_tenant = await client.post(
        f"/api/instances/{instance['id']}/migrate", json={"target_node": "n2"}, headers=tenant.headers
    )
    assert as_tenant.status_code == 403
    other = await api.new_tenant()
    hidden = await client.post(
        f"/api/instances/{instance['id']}/migrate", json={"target_node": "n2"}, headers=other.headers
    )
    assert hidden.status_code == 404
    bad = await client.post(f"/api/instances/{instance['id']}/migrate", json={"node": "n2"}, headers=api.operator)
    assert bad.status_code == 422


def _node(name: str, *, memory: int = 8 * GiB, **fields: object) -> Node:
    seen = dt.datetime.now(dt.UTC)
    values: dict[str, object] = {
        "name": name,
        "endpoint": "unix:///s",
        "labels": {},
        "status": NodeStatus.ready,
        "facts": {"memory_bytes": memory},
        "last_seen_at": seen,
        "unreachable_since": None,
        "capacity_memory_bytes": None,
        **fields,
    }
    return Node(**values)


def _instance(memory: str = "512m", selector: dict[str, str] | None = None) -> Instance:
    return Instance(memory_limit=memory, node_selector=selector)


def test_placement_takes_the_matching_ready_reachable_node_with_the_most_memory_left() -> None:
    nodes = [
        _node("a", memory=8 * GiB),
        _node("b", memory=16 * GiB),
        _node("c", memory=64 * GiB, status=NodeStatus.cordoned),
        _node("d", memory=64 * GiB, unreachable_since=dt.datetime.now(dt.UTC)),
        _node("e", memory=64 * GiB, labels={"region": "eu"}, status=NodeStatus.draining),
    ]
    assert choose_node(nodes, {}, _instance()).name == "b"
    # b has 12 GiB reserved: a has more left.
    assert choose_node(nodes, {"b": (24, 12 * GiB)}, _instance()).name == "a"
    assert choose_node(nodes, {}, _instance(), exclude="b").name == "a"
    with pytest.raises(NoNodeAvailable) as refused:
        choose_node(nodes, {}, _instance(selector={"region": "eu"}))
    assert "e: draining" in str(refused.value.detail)
    with pytest.raises(NoNodeAvailable) as full:
        choose_node([_node("small", capacity_memory_bytes=GiB)], {"small": (1, 768 * 1024**2)}, _instance())
    assert "not enough memory" in str(full.value.detail)
    labelled = [_node("x", labels={"region": "eu", "tier": "1"}), _node("y", memory=99 * GiB)]
    assert choose_node(labelled, {}, _instance(selector={"region": "eu"})).name == "x"
