from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from whatsapp_gateway.api_key import service as api_key_service
from whatsapp_gateway.api_key.auth import AuthenticatedPrincipal
from whatsapp_gateway.api_key.schemas import ApiKey, ApiKeyCreate, ApiKeyCreated
from whatsapp_gateway.deps import SessionDep
from whatsapp_gateway.errors import problem_responses
from whatsapp_gateway.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/api", tags=["api keys"], responses=problem_responses(401, 404, 422))

TenantId = Annotated[str, Path(max_length=64, description="The tenant's id (`ten_…`).")]
KeyId = Annotated[str, Path(max_length=64, description="The key's id (`key_…`), not the key itself.")]


@router.post("/tenants/{tenant_id}/keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def create_api_key(
    tenant_id: TenantId, data: ApiKeyCreate, session: SessionDep, principal: AuthenticatedPrincipal
) -> ApiKeyCreated:
    """Create an API key for a tenant. The answer holds the key in clear, **once**; only its hash is kept.

    The operator may create keys for any tenant; a tenant key may create keys for its own tenant.
    """
    api_key, key = await api_key_service.create(session, principal, tenant_id, data.name)
    await session.commit()
    return ApiKeyCreated(**ApiKey.model_validate(api_key).model_dump(), key=key)


@router.get("/tenants/{tenant_id}/keys", response_model=Page[ApiKey])
async def list_api_keys(
    tenant_id: TenantId,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[ApiKey]:
    """List a tenant's keys (revoked ones included), oldest first. Keys themselves are never shown again."""
    keys = await api_key_service.list_page(session, principal, tenant_id, limit=page.limit + 1, after_id=page.after_id)
    return Page[ApiKey].build([ApiKey.model_validate(k) for k in keys], page.limit, id_of=lambda item: item.id)


@router.delete("/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def revoke_api_key(key_id: KeyId, session: SessionDep, principal: AuthenticatedPrincipal) -> Response:
    """Revoke a key at once. Requests made with it answer 401 from then on. Revoking twice is harmless."""
    await api_key_service.revoke(session, principal, key_id)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
