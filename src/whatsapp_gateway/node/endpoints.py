from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response, status

from whatsapp_gateway.api_key.auth import OperatorPrincipal
from whatsapp_gateway.deps import RuntimeDep, SecretBoxDep, SessionDep
from whatsapp_gateway.errors import problem_responses
from whatsapp_gateway.node import service as node_service
from whatsapp_gateway.node.models import Node as NodeRow
from whatsapp_gateway.node.models import NodeStatus
from whatsapp_gateway.node.schemas import Node, NodeCreate, NodeUpdate
from whatsapp_gateway.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/api", tags=["nodes"], responses=problem_responses(401, 403, 422))

NodeRef = Annotated[str, Path(max_length=64, description="The node's id (`node_…`) or name.")]


def _view(node: NodeRow, usage: dict[str, tuple[int, int]]) -> Node:
    count, reserved = usage.get(node.name, (0, 0))
    return Node(
        id=node.id,
        name=node.name,
        endpoint=node.endpoint,
        tls=node.tls_sealed is not None,
        labels=node.labels,
        capacity_memory_bytes=node_service.capacity_of(node),
        reserved_memory_bytes=reserved,
        instances=count,
        advertise_address=node.advertise_address,
        gateway_url=node.gateway_url,
        network=node.network,
        status=node.status,
        reachable=node.unreachable_since is None and node.last_seen_at is not None,
        facts=node.facts,
        last_seen_at=node.last_seen_at,
        unreachable_since=node.unreachable_since,
        last_error=node.last_error,
        created_at=node.created_at,
    )


def _poke(request: Request) -> None:
    reconciler = getattr(request.app.state, "reconciler", None)
    if reconciler is not None:
        reconciler.poke(nodes_changed=True)


@router.post("/nodes", status_code=status.HTTP_201_CREATED, response_model=Node, responses=problem_responses(409))
async def create_node(
    data: NodeCreate,
    request: Request,
    session: SessionDep,
    principal: OperatorPrincipal,
    box: SecretBoxDep,
    runtime: RuntimeDep,
) -> Node:
    """Register a Docker engine as a node. Operator only; only with `RUNTIME=docker`.

    The engine is checked within seconds by the reconciler's health checks: `reachable` and `facts` show the
    outcome, `last_error` why it failed.
    """
    node = await node_service.create(session, principal, data, box, multi_node=runtime.multi_node)
    await session.commit()
    _poke(request)
    return _view(node, {})


@router.get("/nodes", response_model=Page[Node])
async def list_nodes(
    session: SessionDep, principal: OperatorPrincipal, page: Annotated[PageParams, Depends(page_params)]
) -> Page[Node]:
    """List nodes with their health and the memory reserved on them. Operator only."""
    nodes = await node_service.list_page(session, principal, limit=page.limit + 1, after_id=page.after_id)
    usage = await node_service.usage(session)
    return Page[Node].build([_view(n, usage) for n in nodes], page.limit, id_of=lambda item: item.id)


@router.get("/nodes/{node}", response_model=Node, responses=problem_responses(404))
async def get_node(node: NodeRef, session: SessionDep, principal: OperatorPrincipal) -> Node:
    """Fetch a node by id or name. Operator only."""
    found = await node_service.get(session, principal, node)
    return _view(found, await node_service.usage(session))


@router.patch("/nodes/{node}", response_model=Node, responses=problem_responses(404))
async def update_node(
    node: NodeRef, data: NodeUpdate, request: Request, session: SessionDep, principal: OperatorPrincipal
) -> Node:
    """Change a node's labels, capacity, addresses or status. `status: draining` moves its instances away (each one
    is fenced, stopped with a final state flush, and started on another node); `cordoned` keeps them and places
    nothing new."""
    found = await node_service.update(session, principal, node, data)
    await session.commit()
    _poke(request)
    return _view(found, await node_service.usage(session))


@router.post("/nodes/{node}/drain", response_model=Node, responses=problem_responses(404))
async def drain_node(node: NodeRef, request: Request, session: SessionDep, principal: OperatorPrincipal) -> Node:
    """Shorthand for `PATCH {"status": "draining"}`."""
    return await update_node(node, NodeUpdate(status=NodeStatus.draining), request, session, principal)


@router.delete(
    "/nodes/{node}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(404, 409),
)
async def delete_node(node: NodeRef, session: SessionDep, principal: OperatorPrincipal) -> Response:
    """Forget a node. Refused (`409 node_not_empty`) while instances are placed on it: drain it first."""
    await node_service.delete(session, principal, node)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
