from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_gateway.api_key.models import API_KEY_ID_PREFIX, ApiKey
from whatsapp_gateway.api_key.principal import OPERATOR, Principal
from whatsapp_gateway.api_key.repository import ApiKeyRepository
from whatsapp_gateway.api_key.secrets import hash_key, keys_match, new_tenant_key, prefix_of
from whatsapp_gateway.db import utcnow
from whatsapp_gateway.errors import NotFound, Unauthorized
from whatsapp_gateway.ids import is_id
from whatsapp_gateway.tenant import service as tenant_service


class ApiKeyNotFound(NotFound):
    code, title = "api_key_not_found", "API key not found"


async def authenticate(
    session: AsyncSession,
    presented: str,
    *,
    operator_key_hash: str,
    touch_interval: dt.timedelta,
) -> Principal:
    presented_hash = hash_key(presented)
    if keys_match(presented_hash, operator_key_hash):
        return OPERATOR
    prefix = prefix_of(presented)
    if prefix is None:
        raise Unauthorized("The API key is not valid.")
    repository = ApiKeyRepository(session)
    for candidate in await repository.find_active_by_prefix(prefix):
        if keys_match(presented_hash, candidate.key_hash):
            now = utcnow()
            if candidate.last_used_at is None or now - candidate.last_used_at >= touch_interval:
                await repository.touch(candidate.id, now)
                await session.commit()
            return Principal(tenant_id=candidate.tenant_id, key_id=candidate.id)
    raise Unauthorized("The API key is not valid or has been revoked.")


async def create(session: AsyncSession, principal: Principal, tenant_id: str, name: str) -> tuple[ApiKey, str]:
    tenant = await tenant_service.get(session, principal, tenant_id)
    key, prefix = new_tenant_key()
    api_key = await ApiKeyRepository(session).add(
        ApiKey(tenant_id=tenant.id, name=name, prefix=prefix, key_hash=hash_key(key))
    )
    return api_key, key


async def list_page(
    session: AsyncSession, principal: Principal, tenant_id: str, *, limit: int, after_id: str | None
) -> Sequence[ApiKey]:
    tenant = await tenant_service.get(session, principal, tenant_id)
    return await ApiKeyRepository(session).list_page(tenant.id, limit=limit, after_id=after_id)


async def revoke(session: AsyncSession, principal: Principal, key_id: str) -> ApiKey:
    """Revoke a key. Revoking an already revoked key changes nothing, so retries are safe."""
    # Not an id at all: unknown, without a query the database may refuse (PostgreSQL refuses NUL in text).
    api_key = await ApiKeyRepository(session).get(key_id) if is_id(key_id, API_KEY_ID_PREFIX) else None
    if api_key is None or not principal.can_see_tenant(api_key.tenant_id):
        raise ApiKeyNotFound(f"No API key {key_id!r}.")
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        await session.flush()
    return api_key
