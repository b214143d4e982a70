from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_gateway.api_key.principal import Principal
from whatsapp_gateway.errors import Forbidden, NotFound
from whatsapp_gateway.ids import is_id
from whatsapp_gateway.tenant.models import TENANT_ID_PREFIX, Tenant
from whatsapp_gateway.tenant.repository import TenantRepository
from whatsapp_gateway.tenant.schemas import TenantCreate


class TenantNotFound(NotFound):
    code, title = "tenant_not_found", "Tenant not found"


async def create(session: AsyncSession, principal: Principal, data: TenantCreate) -> Tenant:
    if not principal.is_operator:
        raise Forbidden("Only the operator creates tenants.")
    return await TenantRepository(session).add(Tenant(name=data.name, email=str(data.email).lower()))


async def get(session: AsyncSession, principal: Principal, tenant_id: str) -> Tenant:
    """The tenant, if this principal may see it. Another tenant's id answers exactly like an unknown one.

    A string that is not a tenant id at all is unknown without asking the database, which may refuse it (PostgreSQL
    refuses NUL in text).
    """
    visible = is_id(tenant_id, TENANT_ID_PREFIX) and principal.can_see_tenant(tenant_id)
    tenant = await TenantRepository(session).get(tenant_id) if visible else None
    if tenant is None:
        raise TenantNotFound(f"No tenant {tenant_id!r}.")
    return tenant


async def list_page(
    session: AsyncSession, principal: Principal, *, limit: int, after_id: str | None
) -> Sequence[Tenant]:
    if not principal.is_operator:
        raise Forbidden("Only the operator lists tenants.")
    return await TenantRepository(session).list_page(limit=limit, after_id=after_id)
