"""Nodes: Docker engines registered by the operator, their health, and where instances are placed.

Placement (`choose_node`) is by memory reservation: each instance reserves its memory limit on its node, and a new
instance goes to the ready, reachable node whose labels match the instance's `node_selector` and which has the most
memory left. Draining a node moves its instances to other nodes the same way.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_gateway.api_key.principal import Principal
from whatsapp_gateway.crypto import SecretBox, SecretUnreadable
from whatsapp_gateway.db import utcnow
from whatsapp_gateway.errors import Conflict, Forbidden, NotFound, ServiceUnavailable
from whatsapp_gateway.instance.fields import memory_bytes
from whatsapp_gateway.instance.models import ConnectionState, DesiredState, Instance, InstanceStatus
from whatsapp_gateway.node.models import Node, NodeStatus
from whatsapp_gateway.node.schemas import NodeCreate, NodeUpdate
from whatsapp_gateway.runtime.docker import NodeConfig
from whatsapp_gateway.runtime.docker_api import TLSMaterial

# The node the docker runtime registers for DOCKER_HOST when no node exists yet.
DEFAULT_NODE_NAME = "default"


class NodeNotFound(NotFound):
    code, title = "node_not_found", "Node not found"


class NodeNameTaken(Conflict):
    code, title = "node_name_taken", "A node with this name exists"


class NodeNotEmpty(Conflict):
    code, title = "node_not_empty", "Instances are placed on this node"


class NoNodeAvailable(ServiceUnavailable):
    code, title = "no_node_available", "No node can take this instance"


def _require_operator(principal: Principal) -> None:
    if not principal.is_operator:
        raise Forbidden("Only the operator manages nodes.")


def _capacity_bytes(value: str | None) -> int | None:
    return memory_bytes(value) if value is not None else None


class NodesNeedDocker(Conflict):
    code, title = "nodes_need_docker_runtime", "Nodes are for the docker runtime"


async def create(
    session: AsyncSession, principal: Principal, data: NodeCreate, box: SecretBox, *, multi_node: bool
) -> Node:
    _require_operator(principal)
    if not multi_node:
        raise NodesNeedDocker("This gateway runs workers as local processes (RUNTIME=local): it has no nodes.")
    if await _by_name(session, data.name) is not None:
        raise NodeNameTaken(f"A node named {data.name!r} exists.")
    node = Node(
        name=data.name,
        endpoint=data.endpoint,
        labels=data.labels or {},
        capacity_memory_bytes=_capacity_bytes(data.capacity_memory),
        advertise_address=data.advertise_address,
        gateway_url=data.gateway_url,
        network=data.network,
        status=NodeStatus.ready,
        facts={},
    )
    session.add(node)
    await session.flush()  # the id is the sealing context
    if data.tls is not None:
        node.tls_sealed = box.seal(data.tls.model_dump_json(), context=node.id)
    return node


async def ensure_default(session: AsyncSession, endpoint: str, *, network: str | None) -> None:
    """Register DOCKER_HOST as the node `default` when no node exists: one engine works with no setup."""
    if (await session.scalar(select(func.count()).select_from(Node))) == 0:
        session.add(
            Node(
                name=DEFAULT_NODE_NAME,
                endpoint=endpoint,
                network=network,
                labels={},
                status=NodeStatus.ready,
                facts={},
            )
        )


async def get(session: AsyncSession, principal: Principal, reference: str) -> Node:
    """A node by id or by name."""
    _require_operator(principal)
    node = await session.get(Node, reference) if reference.startswith("node_") else None
    node = node or await _by_name(session, reference)
    if node is None:
        raise NodeNotFound(f"No node {reference!r}.")
    return node


async def _by_name(session: AsyncSession, name: str) -> Node | None:
    node: Node | None = await session.scalar(select(Node).where(Node.name == name))
    return node


async def list_all(session: AsyncSession) -> Sequence[Node]:
    return (await session.scalars(select(Node).order_by(Node.created_at, Node.id))).all()


async def list_page(session: AsyncSession, principal: Principal, *, limit: int, after_id: str | None) -> Sequence[Node]:
    _require_operator(principal)
    query = select(Node).order_by(Node.id).limit(limit)
    if after_id is not None:
        query = query.where(Node.id > after_id)
    return (await session.scalars(query)).all()


async def update(session: AsyncSession, principal: Principal, reference: str, data: NodeUpdate) -> Node:
    node = await get(session, principal, reference)
    fields = data.model_fields_set
    if "labels" in fields:
        node.labels = data.labels or {}
    if "capacity_memory" in fields:
        node.capacity_memory_bytes = _capacity_bytes(data.capacity_memory)
    for name in ("advertise_address", "gateway_url", "network"):
        if name in fields:
            setattr(node, name, getattr(data, name))
    if "status" in fields and data.status is not None:
        node.status = data.status
    return node


async def delete(session: AsyncSession, principal: Principal, reference: str) -> None:
    node = await get(session, principal, reference)
    placed = await session.scalar(select(func.count()).select_from(Instance).where(Instance.node == node.name))
    if placed:
        raise NodeNotEmpty(f"{placed} instance(s) are placed on {node.name!r}: drain the node first.")
    await session.delete(node)


async def usage(session: AsyncSession) -> dict[str, tuple[int, int]]:
    """(instances, reserved memory in bytes) per node name: instances that should run count against their node."""
    rows = await session.execute(
        select(Instance.node, Instance.memory_limit).where(
            Instance.node.is_not(None), Instance.desired_state == DesiredState.running
        )
    )
    out: dict[str, tuple[int, int]] = {}
    for node_name, memory in rows:
        if node_name is None:
            continue
        count, reserved = out.get(node_name, (0, 0))
        out[node_name] = (count + 1, reserved + memory_bytes(memory))
    return out


def config_of(node: Node, box: SecretBox) -> NodeConfig:
    tls = None
    if node.tls_sealed:
        try:
            tls = TLSMaterial(**json.loads(box.open(node.tls_sealed, context=node.id)))
        except SecretUnreadable:
            tls = None  # sealed under another SECRET_KEY: the health check reports the TLS failure
    return NodeConfig(
        name=node.name,
        endpoint=node.endpoint,
        tls=tls,
        advertise_address=node.advertise_address,
        gateway_url=node.gateway_url,
        network=node.network,
    )


def capacity_of(node: Node) -> int | None:
    if node.capacity_memory_bytes is not None:
        return node.capacity_memory_bytes
    total = node.facts.get("memory_bytes")
    return int(total) if isinstance(total, int) else None


def choose_node(
    nodes: Sequence[Node], usage_by_node: dict[str, tuple[int, int]], instance: Instance, *, exclude: str | None = None
) -> Node:
    """The ready, reachable node matching the instance's selector with the most memory left after placing it."""
    needed = memory_bytes(instance.memory_limit)
    selector = instance.node_selector or {}
    best: tuple[int, Node] | None = None
    reasons: list[str] = []
    for node in nodes:
        if node.name == exclude:
            continue
        if node.status is not NodeStatus.ready:
            reasons.append(f"{node.name}: {node.status.value}")
            continue
        if node.unreachable_since is not None or node.last_seen_at is None:
            reasons.append(f"{node.name}: unreachable")
            continue
        if any(node.labels.get(key) != value for key, value in selector.items()):
            reasons.append(f"{node.name}: labels do not match")
            continue
        capacity = capacity_of(node)
        reserved = usage_by_node.get(node.name, (0, 0))[1]
        free = (capacity - reserved - needed) if capacity is not None else 0
        if capacity is not None and free < 0:
            reasons.append(f"{node.name}: not enough memory ({reserved + needed} of {capacity} bytes)")
            continue
        if best is None or free > best[0]:
            best = (free, node)
    if best is None:
        raise NoNodeAvailable("No node can take the instance: " + ("; ".join(reasons) or "no node is registered") + ".")
    return best[1]


def record_health(node: Node, *, facts: dict[str, object] | None, error: str | None, now: dt.datetime) -> bool:
    """Write a health check's outcome; True when the node's reachability changed."""
    was_reachable = node.unreachable_since is None and node.last_seen_at is not None
    if error is None:
        node.last_seen_at = now
        node.unreachable_since = None
        node.last_error = None
        if facts is not None:
            node.facts = dict(facts)
    else:
        node.last_error = error[:1000]
        if node.unreachable_since is None:
            node.unreachable_since = now
    return was_reachable != (error is None)


def lost(node: Node, *, after: dt.timedelta, now: dt.datetime | None = None) -> bool:
    """Unreachable for longer than `after`: its instances may be started elsewhere."""
    return node.unreachable_since is not None and (now or utcnow()) - node.unreachable_since > after


class MigrationUnsupported(Conflict):
    code, title = "migration_unsupported", "This instance cannot be migrated"


class NodeUnavailable(Conflict):
    code, title = "node_unavailable", "The target node cannot take instances"


async def migrate(
    session: AsyncSession, principal: Principal, instance: Instance, target: str, *, multi_node: bool
) -> Instance:
    """Move the instance to `target`. The reconciler does the work: it sees the worker on another node than the
    instance's, stops it with a final state flush (the worker is fenced by the next epoch), and starts it on the
    target. Sends made meanwhile stay queued and go out once the new worker is connected."""
    _require_operator(principal)
    if not multi_node:
        raise MigrationUnsupported("Migration needs RUNTIME=docker: the local runtime has a single node.")
    if instance.provider.value == "waba":
        raise MigrationUnsupported("A Cloud API number is hosted by Meta; it has no worker to move.")
    node = await get(session, principal, target)
    if node.status is not NodeStatus.ready or node.unreachable_since is not None or node.last_seen_at is None:
        state = node.status.value if node.status is not NodeStatus.ready else "unreachable"
        raise NodeUnavailable(f"Node {node.name!r} is {state}.")
    if any(node.labels.get(key) != value for key, value in (instance.node_selector or {}).items()):
        raise NodeUnavailable(f"Node {node.name!r} does not carry the labels of the instance's node_selector.")
    if instance.node == node.name:
        return instance  # already there: nothing to do (idempotent)
    capacity = capacity_of(node)
    reserved = (await usage(session)).get(node.name, (0, 0))[1]
    if capacity is not None and reserved + memory_bytes(instance.memory_limit) > capacity:
        raise NodeUnavailable(f"Node {node.name!r} has not enough memory left for the instance.")
    if instance.desired_state is DesiredState.running and instance.connection_state is ConnectionState.connected:
        instance.migration_started_at = utcnow()
        instance.status = InstanceStatus.migrating
    instance.node = node.name
    return instance
