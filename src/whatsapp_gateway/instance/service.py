from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_gateway.api_key.principal import Principal
from whatsapp_gateway.crypto import SecretBox
from whatsapp_gateway.db import utcnow
from whatsapp_gateway.errors import Conflict, NotFound, UnprocessableInput
from whatsapp_gateway.ids import is_id
from whatsapp_gateway.instance.fields import normalize_phone
from whatsapp_gateway.instance.models import (
    INSTANCE_ID_PREFIX,
    ConnectionState,
    DesiredState,
    Instance,
    InstanceStatus,
    Provider,
)
from whatsapp_gateway.instance.repository import InstanceRepository
from whatsapp_gateway.instance.schemas import InstanceCreate, InstanceFilters, InstanceUpdate
from whatsapp_gateway.provider import registry
from whatsapp_gateway.tenant import service as tenant_service
from whatsapp_gateway.webhook import service as webhook_service
from whatsapp_gateway.webhook.targets import TargetResolver


class InstanceNotFound(NotFound):
    code, title = "instance_not_found", "Instance not found"


class PhoneAlreadyRegistered(Conflict):
    code, title = "phone_already_registered", "This tenant already has an instance for that phone number"


class AmbiguousPhone(Conflict):
    code, title = "ambiguous_phone", "Several tenants have an instance for that phone number"


class ProviderUnavailable(UnprocessableInput):
    code, title = "provider_unavailable", "That provider cannot run on this gateway"


class TenantRequired(UnprocessableInput):
    code, title = "tenant_required", "Say which tenant owns the instance"


class ProviderConfigInvalid(UnprocessableInput):
    code, title = "provider_config_invalid", "The provider's `config` is missing, or given where none is taken"


def _provider_config_context(instance_id: str) -> str:
    return f"{instance_id}:provider-config"


def open_provider_config(box: SecretBox, instance: Instance) -> str | None:
    """The instance's provider settings (JSON), decrypted; None when it has none."""
    if instance.provider_config_sealed is None:
        return None
    return box.open(instance.provider_config_sealed, context=_provider_config_context(instance.id))


async def create(
    session: AsyncSession, principal: Principal, data: InstanceCreate, *, box: SecretBox, resolver: TargetResolver
) -> tuple[Instance, str | None]:
    """Record a new instance, wanted running, and its webhook endpoint if it has one (with the endpoint's secret, to
    show once). Starting its worker is the reconciler's job."""
    if principal.is_operator:
        if data.tenant_id is None:
            raise TenantRequired("With the operator's key, give `tenant_id`; or use one of the tenant's keys.")
        tenant_id = data.tenant_id
    else:
        assert principal.tenant_id is not None
        tenant_id = data.tenant_id or principal.tenant_id
    tenant = await tenant_service.get(session, principal, tenant_id)
    provider = registry.get(data.provider)
    if not provider.available:
        raise ProviderUnavailable(f"{data.provider}: {provider.unavailable_reason} See GET /api/providers.")
    if (data.config is None) == (data.provider is Provider.waba):
        raise ProviderConfigInvalid("`config` is required for `waba` instances, and taken by no other provider.")

    repository = InstanceRepository(session)
    if await repository.find_by_phone(data.phone, tenant_id=tenant.id):
        raise PhoneAlreadyRegistered(f"Phone {data.phone} already has an instance in this tenant.")
    instance = Instance(
        tenant_id=tenant.id,
        name=data.name,
        phone_number=data.phone,
        provider=data.provider,
        cpu_limit=data.resources.cpu,
        memory_limit=data.resources.memory,
        node_selector=data.node_selector,
        status=InstanceStatus.creating,
        desired_state=DesiredState.running,
    )
    try:
        await repository.add(instance)
    except IntegrityError as exc:  # a concurrent create won the race for the same phone
        raise PhoneAlreadyRegistered(f"Phone {data.phone} already has an instance in this tenant.") from exc
    if data.config is not None:
        sealed = box.seal(data.config.model_dump_json(exclude_none=True), context=_provider_config_context(instance.id))
        instance.provider_config_sealed = sealed
    if data.provider is Provider.waba:
        # Meta hosts the number: there is no worker to start and no login; it is connected as soon as it exists.
        instance.status, instance.connection_state = InstanceStatus.running, ConnectionState.connected
    secret = None
    if data.webhook is not None:
        secret = await webhook_service.set_instance_webhook(
            session, box, resolver, tenant_id=instance.tenant_id, instance_id=instance.id, url=str(data.webhook)
        )
    return instance, secret


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


async def update(
    session: AsyncSession,
    principal: Principal,
    reference: str,
    data: InstanceUpdate,
    *,
    box: SecretBox,
    resolver: TargetResolver,
) -> tuple[Instance, str | None]:
    """Apply the fields given; the new webhook endpoint's secret when the instance gets a webhook it did not have."""
    instance = await get(session, principal, reference)
    given = data.model_fields_set
    if "name" in given:
        instance.name = data.name
    secret = None
    if "webhook" in given:
        secret = await webhook_service.set_instance_webhook(
            session,
            box,
            resolver,
            tenant_id=instance.tenant_id,
            instance_id=instance.id,
            url=str(data.webhook) if data.webhook else None,
        )
    if data.config is not None:
        if instance.provider is not Provider.waba:
            raise ProviderConfigInvalid(f"The {instance.provider} provider takes no `config`.")
        sealed = box.seal(data.config.model_dump_json(exclude_none=True), context=_provider_config_context(instance.id))
        instance.provider_config_sealed = sealed
        if instance.connection_state is ConnectionState.failed and instance.desired_state is DesiredState.running:
            instance.connection_state, instance.status_reason = ConnectionState.connected, None
    if data.resources is not None:
        if data.resources.cpu is not None:
            instance.cpu_limit = data.resources.cpu
        if data.resources.memory is not None:
            instance.memory_limit = data.resources.memory
    await session.flush()
    return instance, secret


async def delete(session: AsyncSession, principal: Principal, reference: str) -> None:
    instance = await get(session, principal, reference)
    await InstanceRepository(session).delete(instance)


async def get_for_worker(session: AsyncSession, instance_id: str) -> Instance | None:
    """An instance by id for the internal API, whose callers are authenticated by the instance's worker token."""
    return await InstanceRepository(session).get(instance_id)


# What a worker's event says about its connection. `instance.status` carries the state itself.
_STATE_OF_EVENT = {
    "session.qr": ConnectionState.qr,
    "session.pair_code": ConnectionState.pairing,
    "session.connected": ConnectionState.connected,
    "session.disconnected": ConnectionState.disconnected,
    "session.logged_out": ConnectionState.logged_out,
    "session.banned": ConnectionState.banned,
}


def _unspecified_host(listen: str) -> bool:
    host = listen.rsplit(":", 1)[0].strip("[]")
    return host in ("0.0.0.0", "::", "")  # noqa: S104 - compared with, not bound to


async def apply_worker_event(session: AsyncSession, instance: Instance, type: str, data: dict[str, Any]) -> None:
    """Follow the worker's reports: its address once it is up, and its connection state."""
    if type == "worker.ready":
        # A predecessor's `worker.ready`, delivered late from the spool its successor inherited, names a dead address.
        if data.get("epoch") == instance.epoch and isinstance(data.get("listen"), str):
            # A worker bound to all interfaces (in a container) cannot say how to reach it: the runtime's address,
            # set by the reconciler, stands.
            if not _unspecified_host(data["listen"]):
                instance.worker_address = data["listen"][:255]
            if instance.migration_started_at is None:
                instance.status = InstanceStatus.running
            instance.status_reason = None
        return
    if type == "instance.status":
        try:
            state = ConnectionState(str(data.get("connection_state")))
        except ValueError:
            return
    elif type in _STATE_OF_EVENT:
        state = _STATE_OF_EVENT[type]
    else:
        return
    instance.connection_state = state
    if state is ConnectionState.connected and instance.migration_started_at is not None:
        instance.migration_started_at = None  # the migration ends when the worker on the new node is connected
        instance.status = InstanceStatus.running
    reason = data.get("reason")
    if isinstance(reason, str) or type == "instance.status":
        instance.status_reason = reason[:1000] if isinstance(reason, str) else None
    if type == "session.connected" and isinstance(data.get("me"), dict):
        instance.account = {k: data["me"].get(k) for k in ("phone", "jid", "lid", "push_name")}
    elif state is ConnectionState.logged_out:
        instance.account = None


async def set_desired_state(
    session: AsyncSession, principal: Principal, reference: str, desired: DesiredState
) -> Instance:
    instance = await get(session, principal, reference)
    instance.desired_state = desired
    if instance.provider is Provider.waba:
        # No worker: the reconciler never sees it, so the change is made here. Stopped, it sends nothing.
        running = desired is DesiredState.running
        instance.status = InstanceStatus.running if running else InstanceStatus.stopped
        if instance.connection_state is not ConnectionState.failed or not running:
            instance.connection_state = ConnectionState.connected if running else None
    elif desired is DesiredState.stopped and instance.status not in (InstanceStatus.stopped, InstanceStatus.stopping):
        instance.status = InstanceStatus.stopping
    await session.flush()
    return instance


async def request_restart(session: AsyncSession, instance: Instance) -> None:
    """Ask for a fresh worker: the reconciler replaces any worker started before now."""
    instance.desired_state = DesiredState.running
    instance.restart_requested_at = utcnow()
    await session.flush()


async def list_for_reconcile(session: AsyncSession, *, providers: Sequence[Provider]) -> Sequence[Instance]:
    return await InstanceRepository(session).list_by_providers(providers)


async def find_by_phone_in_tenant(session: AsyncSession, tenant_id: str, phone: str) -> Sequence[Instance]:
    return await InstanceRepository(session).find_by_phone(phone, tenant_id=tenant_id)
