from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from whatsapp_gateway.api_key.auth import AuthenticatedPrincipal
from whatsapp_gateway.deps import SessionDep
from whatsapp_gateway.errors import problem_responses
from whatsapp_gateway.instance import service as instance_service
from whatsapp_gateway.instance.models import InstanceStatus, Provider
from whatsapp_gateway.instance.schemas import Instance, InstanceCreate, InstanceFilters, InstanceUpdate
from whatsapp_gateway.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/api", tags=["instances"], responses=problem_responses(401, 422))

InstanceRef = Annotated[
    str,
    Path(
        max_length=64,
        description="The instance's id (`ins_…`) or its phone number.",
        examples=["ins_01JDQ6W9Z8K3V7Q2X4N5M6P7R8", "14155550100"],
    ),
]


async def instance_filters(
    provider: Annotated[Provider | None, Query(description="Only instances of this provider.")] = None,
    status: Annotated[InstanceStatus | None, Query(description="Only instances in this status.")] = None,
    tenant_id: Annotated[
        str | None, Query(max_length=64, description="Operator only: instances of this tenant.")
    ] = None,
) -> InstanceFilters:
    return InstanceFilters(provider=provider, status=status, tenant_id=tenant_id)


@router.post(
    "/instances",
    status_code=status.HTTP_201_CREATED,
    response_model=Instance,
    responses=problem_responses(404, 409),
)
async def create_instance(data: InstanceCreate, session: SessionDep, principal: AuthenticatedPrincipal) -> Instance:
    """Create an instance: one WhatsApp number served by one worker of the chosen provider.

    The instance is recorded wanted `running`. One tenant has at most one instance per phone number (409 otherwise).
    """
    instance = await instance_service.create(session, principal, data)
    await session.commit()
    return Instance.from_model(instance)


@router.get("/instances", response_model=Page[Instance], responses=problem_responses(404))
async def list_instances(
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    filters: Annotated[InstanceFilters, Depends(instance_filters)],
) -> Page[Instance]:
    """List the caller's instances, oldest first, optionally filtered by provider and status."""
    instances = await instance_service.list_page(
        session, principal, filters, limit=page.limit + 1, after_id=page.after_id
    )
    return Page[Instance].build([Instance.from_model(i) for i in instances], page.limit, id_of=lambda item: item.id)


@router.get("/instances/{instance}", response_model=Instance, responses=problem_responses(404, 409))
async def get_instance(instance: InstanceRef, session: SessionDep, principal: AuthenticatedPrincipal) -> Instance:
    """Fetch one instance by id or by phone number."""
    return Instance.from_model(await instance_service.get(session, principal, instance))


@router.patch("/instances/{instance}", response_model=Instance, responses=problem_responses(404, 409))
async def update_instance(
    instance: InstanceRef, data: InstanceUpdate, session: SessionDep, principal: AuthenticatedPrincipal
) -> Instance:
    """Change an instance's name, webhook or resources. The phone number and provider are fixed at creation."""
    updated = await instance_service.update(session, principal, instance, data)
    await session.commit()
    return Instance.from_model(updated)


@router.delete(
    "/instances/{instance}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(404, 409),
)
async def delete_instance(instance: InstanceRef, session: SessionDep, principal: AuthenticatedPrincipal) -> Response:
    """Delete an instance and everything stored for it."""
    await instance_service.delete(session, principal, instance)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
