from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from whatsapp_gateway.api_key.auth import AuthenticatedPrincipal, OperatorPrincipal
from whatsapp_gateway.deps import SessionDep
from whatsapp_gateway.errors import problem_responses
from whatsapp_gateway.pagination import Page, PageParams, page_params
from whatsapp_gateway.tenant import service as tenant_service
from whatsapp_gateway.tenant.schemas import Tenant, TenantCreate

router = APIRouter(prefix="/api", tags=["tenants"], responses=problem_responses(401, 422))

TenantId = Annotated[str, Path(max_length=64, description="The tenant's id (`ten_…`).")]


@router.post("/tenants", status_code=status.HTTP_201_CREATED, response_model=Tenant, responses=problem_responses(403))
async def create_tenant(data: TenantCreate, session: SessionDep, principal: OperatorPrincipal) -> Tenant:
    """Create a tenant: a customer account that owns instances and API keys. Operator only.

    Give the tenant a key next with `POST /api/tenants/{id}/keys`.
    """
    tenant = await tenant_service.create(session, principal, data)
    await session.commit()
    return Tenant.model_validate(tenant)


@router.get("/tenants", response_model=Page[Tenant], responses=problem_responses(403))
async def list_tenants(
    session: SessionDep, principal: OperatorPrincipal, page: Annotated[PageParams, Depends(page_params)]
) -> Page[Tenant]:
    """List tenants, oldest first. Operator only."""
    tenants = await tenant_service.list_page(session, principal, limit=page.limit + 1, after_id=page.after_id)
    return Page[Tenant].build([Tenant.model_validate(t) for t in tenants], page.limit, id_of=lambda item: item.id)


@router.get("/tenants/{tenant_id}", response_model=Tenant, responses=problem_responses(404))
async def get_tenant(tenant_id: TenantId, session: SessionDep, principal: AuthenticatedPrincipal) -> Tenant:
    """Fetch a tenant. A tenant key sees only its own tenant."""
    return Tenant.model_validate(await tenant_service.get(session, principal, tenant_id))
