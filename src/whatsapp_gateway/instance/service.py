from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_gateway.api_key.principal import Principal
from whatsapp_gateway.errors import Conflict, NotFound, UnprocessableInput
from whatsapp_gateway.ids import is_id
from whatsapp_gateway.instance.fields import normalize_phone
from whatsapp_gateway.instance.models import INSTANCE_ID_PREFIX, DesiredState, Instance, InstanceStatus
from whatsapp_gateway.instance.repository import InstanceRepository
from whatsapp_gateway.instance.schemas import InstanceCreate, InstanceFilters, InstanceUpdate
from whatsapp_gateway.tenant import service as tenant_service


class InstanceNotFound(NotFound):
    code, title = "instance_not_found", "Instance not found"


class PhoneAlreadyRegistered(Conflict):
    code, title = "phone_already_registered", "This tenant already has an instance for that phone number"


class AmbiguousPhone(Conflict):
    code, title = "ambiguous_phone", "Several tenants have an instance for that phone number"


class TenantRequired(UnprocessableInput):
    code, title = "tenant_required", "Say which tenant owns the instance"


async def create(session: AsyncSession, principal: Principal, data: InstanceCreate) -> Instance:
    """Record a new instance, wanted running. Starting its worker is the reconciler's job."""
    if principal.is_operator:
        if data.tenant_id is None:
            raise TenantRequired("With the operator's key, give `tenant_id`; or use one of the tenant's keys.")
        tenant_id = data.tenant_id
    else:
        assert principal.tenant_id is not None
        tenant_id = data.tenant_id or principal.tenant_id
    tenant = await tenant_service.get(session, principal, tenant_id)

    repository = InstanceRepository(session)
    if await repository.find_by_phone(data.phone, tenant_id=tenant.id):
        raise PhoneAlreadyRegistered(f"Phone {data.phone} already has an instance in this tenant.")
    instance = Instance(
        tenant_id=tenant.id,
        name=data.name,
        phone_number=data.phone,
        provider=data.provider,
        webhook_url=str(data.webhook) if data.webhook else None,
        cpu_limit=data.resources.cpu,
        memory_limit=data.resources.memory,
        status=InstanceStatus.creating,
        desired_state=DesiredState.running,
    )
    try:
        return await repository.add(instance)
    except IntegrityError as exc:  # a concurrent create won the race for the same phone
        raise PhoneAlreadyRegistered(f"Phone {data.phone} already has an instance in this tenant.") from exc


async def get(session: AsyncSession, principal: Principal, reference: str) -> Instance:
    """An instance by id (`ins_…`) or by phone number. Other tenants' instances answer as unknown ones do."""
    repository = InstanceRepository(session)
    not_found = InstanceNotFound(f"No instance {reference!r}.")
    if is_id(reference, INSTANCE_ID_PREFIX):
        instance = await repository.get(reference)
        if instance is None or not principal.can_see_tenant(instance.tenant_id):
            raise not_found
        return instance
    try:
        phone = normalize_phone(reference)
    except ValueError:
        raise not_found from None
    matches = await repository.find_by_phone(phone, tenant_id=principal.tenant_id)
    if not matches:
        raise not_found
    if len(matches) > 1:
        raise AmbiguousPhone(f"Phone {phone} is used in several tenants; use the instance id.")
    return matches[0]


async def list_page(
    session: AsyncSession, principal: Principal, filters: InstanceFilters, *, limit: int, after_id: str | None
) -> Sequence[Instance]:
    tenant_id = principal.tenant_id
    if filters.tenant_id is not None:
        tenant_id = (await tenant_service.get(session, principal, filters.tenant_id)).id
    return await InstanceRepository(session).list_page(
        tenant_id=tenant_id, provider=filters.provider, status=filters.status, limit=limit, after_id=after_id
    )


async def update(session: AsyncSession, principal: Principal, reference: str, data: InstanceUpdate) -> Instance:
    instance = await get(session, principal, reference)
    given = data.model_fields_set
    if "name" in given:
        instance.name = data.name
    if "webhook" in given:
        instance.webhook_url = str(data.webhook) if data.webhook else None
    if data.resources is not None:
        if data.resources.cpu is not None:
            instance.cpu_limit = data.resources.cpu
        if data.resources.memory is not None:
            instance.memory_limit = data.resources.memory
    await session.flush()
    return instance


async def delete(session: AsyncSession, principal: Principal, reference: str) -> None:
    instance = await get(session, principal, reference)
    await InstanceRepository(session).delete(instance)
