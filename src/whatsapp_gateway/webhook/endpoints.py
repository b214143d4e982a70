from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from whatsapp_gateway.api_key.auth import AuthenticatedPrincipal
from whatsapp_gateway.api_key.principal import Principal
from whatsapp_gateway.crypto import SecretBox
from whatsapp_gateway.deps import RetryPolicyDep, SecretBoxDep, SessionDep, TargetResolverDep, WakeupsDep
from whatsapp_gateway.errors import UnprocessableInput, problem_responses
from whatsapp_gateway.event import service as event_service
from whatsapp_gateway.instance import service as instance_service
from whatsapp_gateway.notify import Wakeups
from whatsapp_gateway.pagination import InvalidCursor, Page, PageParams, page_params
from whatsapp_gateway.tenant import service as tenant_service
from whatsapp_gateway.webhook import service as webhook_service
from whatsapp_gateway.webhook.models import DeliveryStatus, WebhookEndpoint
from whatsapp_gateway.webhook.schemas import (
    Delivery,
    Redelivered,
    RedeliverFailed,
    SecretRotated,
    SecretRotation,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointOut,
    WebhookEndpointUpdate,
)

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"], responses=problem_responses(401, 404, 422))

EndpointId = Annotated[str, Path(max_length=64, description="The endpoint's id (`whe_…`).")]
MAX_DELIVERY_ID = 2**63 - 1
DeliveryId = Annotated[int, Path(ge=1, le=MAX_DELIVERY_ID, description="The delivery's id.")]


class TenantMismatch(UnprocessableInput):
    code, title = "tenant_mismatch", "The instance belongs to another tenant than the one given"


def _out(box: SecretBox, endpoint: WebhookEndpoint) -> WebhookEndpointOut:
    return WebhookEndpointOut.from_model(endpoint, webhook_service.header_names(box, endpoint))


async def _tenant_and_instance(
    session: SessionDep, principal: Principal, data: WebhookEndpointCreate
) -> tuple[str, str | None]:
    if data.instance is not None:
        instance = await instance_service.get(session, principal, data.instance)
        if data.tenant_id is not None and data.tenant_id != instance.tenant_id:
            raise TenantMismatch(f"Instance {instance.id} is not in tenant {data.tenant_id}.")
        return instance.tenant_id, instance.id
    tenant_id = data.tenant_id or principal.tenant_id
    if tenant_id is None:
        raise instance_service.TenantRequired(
            "With the operator's key, give `tenant_id` or `instance`; or use one of the tenant's keys."
        )
    return (await tenant_service.get(session, principal, tenant_id)).id, None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WebhookEndpointCreated)
async def create_webhook(
    data: WebhookEndpointCreate,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    box: SecretBoxDep,
    resolver: TargetResolverDep,
) -> WebhookEndpointCreated:
    """Add an endpoint that receives the tenant's events (or one instance's, with `instance`).

    The answer holds the signing secret (`whsec_…`) **once**. Each delivery is a `POST` of the event envelope
    `{id, type, instance, timestamp, data}`, signed per [Standard Webhooks](https://www.standardwebhooks.com)
    (`webhook-id`, `webhook-timestamp`, `webhook-signature`). URLs that resolve to private, loopback or link-local
    addresses are refused (422 `webhook_target_not_allowed`) unless the operator allows them.
    """
    tenant_id, instance_id = await _tenant_and_instance(session, principal, data)
    endpoint, secret = await webhook_service.create(
        session,
        box,
        resolver,
        tenant_id=tenant_id,
        instance_id=instance_id,
        url=str(data.url),
        description=data.description,
        event_types=data.event_types,
        headers=data.headers,
        enabled=data.enabled,
    )
    await session.commit()
    return WebhookEndpointCreated(**_out(box, endpoint).model_dump(), secret=secret)


@router.get("", response_model=Page[WebhookEndpointOut])
async def list_webhooks(
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    box: SecretBoxDep,
    page: Annotated[PageParams, Depends(page_params)],
    instance: Annotated[
        str | None, Query(max_length=64, description="Only the endpoints of this instance (id or phone).")
    ] = None,
    tenant_id: Annotated[str | None, Query(max_length=64, description="Operator only: this tenant's.")] = None,
) -> Page[WebhookEndpointOut]:
    """List endpoints, instances' own webhooks included, oldest first."""
    scope_tenant = principal.tenant_id
    if tenant_id is not None:
        scope_tenant = (await tenant_service.get(session, principal, tenant_id)).id
    instance_id = (await instance_service.get(session, principal, instance)).id if instance is not None else None
    endpoints = await webhook_service.list_page(
        session, tenant_id=scope_tenant, instance_id=instance_id, limit=page.limit + 1, after_id=page.after_id
    )
    return Page[WebhookEndpointOut].build([_out(box, e) for e in endpoints], page.limit, id_of=lambda e: e.id)


@router.get("/{webhook_id}", response_model=WebhookEndpointOut)
async def get_webhook(
    webhook_id: EndpointId, session: SessionDep, principal: AuthenticatedPrincipal, box: SecretBoxDep
) -> WebhookEndpointOut:
    """One endpoint. Its secret and custom header values are never shown again."""
    return _out(box, await webhook_service.get(session, principal, webhook_id))


@router.patch("/{webhook_id}", response_model=WebhookEndpointOut, responses=problem_responses(409))
async def update_webhook(
    webhook_id: EndpointId,
    data: WebhookEndpointUpdate,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    box: SecretBoxDep,
    resolver: TargetResolverDep,
    wakeups: WakeupsDep,
) -> WebhookEndpointOut:
    """Change an endpoint: URL, description, event types, custom headers (replaced as a whole), on or off.

    Turned off, it gets no new deliveries; those already pending wait, in order, and go out when it is turned on.
    """
    endpoint = await webhook_service.get(session, principal, webhook_id)
    endpoint = await webhook_service.update(session, box, resolver, endpoint, data)
    await session.commit()
    _wake_dispatcher(wakeups)
    return _out(box, endpoint)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_webhook(webhook_id: EndpointId, session: SessionDep, principal: AuthenticatedPrincipal) -> Response:
    """Delete an endpoint with its delivery log. An instance's own webhook is removed from the instance too."""
    endpoint = await webhook_service.get(session, principal, webhook_id)
    await webhook_service.delete(session, endpoint)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{webhook_id}/rotate-secret", response_model=SecretRotated)
async def rotate_webhook_secret(
    webhook_id: EndpointId,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    box: SecretBoxDep,
    wakeups: WakeupsDep,
    data: SecretRotation | None = None,
) -> SecretRotated:
    """Make a new signing secret, shown **once**. The old one keeps signing beside it (two `v1,` signatures in
    `webhook-signature`) for `previous_secret_valid_for_seconds` (a day by default), so receivers switch without
    refusing a delivery."""
    rotation = data or SecretRotation()
    endpoint = await webhook_service.get(session, principal, webhook_id)
    secret = await webhook_service.rotate_secret(
        session, box, endpoint, previous_valid_for=dt.timedelta(seconds=rotation.previous_secret_valid_for_seconds)
    )
    await session.commit()
    _wake_dispatcher(wakeups)
    return SecretRotated(secret=secret, previous_secret_expires_at=endpoint.previous_secret_expires_at)


@router.post(
    "/{webhook_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Delivery,
    responses=problem_responses(409),
)
async def send_test_event(
    webhook_id: EndpointId,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    policy: RetryPolicyDep,
    wakeups: WakeupsDep,
) -> Delivery:
    """Queue a `webhook.test` event for this endpoint only. Follow it in the delivery log."""
    endpoint = await webhook_service.get(session, principal, webhook_id)
    webhook_service.require_enabled(endpoint)
    event = await event_service.record(
        session,
        policy,
        tenant_id=endpoint.tenant_id,
        instance_id=endpoint.instance_id,
        type="webhook.test",
        data={"endpoint": endpoint.id, "message": "A test event, sent on request."},
        only_endpoint=endpoint,
    )
    await session.commit()
    wakeups.notify(event_service.wake_keys_of_event(endpoint.tenant_id, endpoint.instance_id))
    delivery, _ = await webhook_service.delivery_of_event(session, endpoint, event.seq)
    return Delivery.from_row(delivery, event.event_id, event.type, event.instance_id)


@router.get("/{webhook_id}/deliveries", response_model=Page[Delivery])
async def list_deliveries(
    webhook_id: EndpointId,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    delivery_status: Annotated[
        DeliveryStatus | None,
        Query(alias="status", description="Only deliveries in this status (`failed`: the dead letters)."),
    ] = None,
) -> Page[Delivery]:
    """The delivery log, newest first: each event sent to this endpoint, its status, attempts, and the receiver's
    last answer (status code, latency, error)."""
    endpoint = await webhook_service.get(session, principal, webhook_id)
    after_id: int | None = None
    if page.after_id is not None:
        if not (page.after_id.isascii() and page.after_id.isdigit()) or int(page.after_id) > MAX_DELIVERY_ID:
            raise InvalidCursor("Use the `next_cursor` of a previous page, unchanged.")
        after_id = int(page.after_id)
    rows = await webhook_service.deliveries_page(
        session, endpoint, status=delivery_status, limit=page.limit + 1, after_id=after_id
    )
    items = [Delivery.from_row(d, e.event_id, e.type, e.instance_id) for d, e in rows]
    return Page[Delivery].build(items, page.limit, id_of=lambda item: str(item.id))


@router.get("/{webhook_id}/deliveries/{delivery_id}", response_model=Delivery)
async def get_delivery(
    webhook_id: EndpointId, delivery_id: DeliveryId, session: SessionDep, principal: AuthenticatedPrincipal
) -> Delivery:
    endpoint = await webhook_service.get(session, principal, webhook_id)
    delivery, event = await webhook_service.get_delivery(session, endpoint, delivery_id)
    return Delivery.from_row(delivery, event.event_id, event.type, event.instance_id)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Delivery,
    responses=problem_responses(409),
)
async def redeliver(
    webhook_id: EndpointId,
    delivery_id: DeliveryId,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    policy: RetryPolicyDep,
    wakeups: WakeupsDep,
) -> Delivery:
    """Send one delivery again, whether it succeeded or was dead-lettered. It keeps its `webhook-id`, so a receiver
    that de-duplicates sees it once."""
    endpoint = await webhook_service.get(session, principal, webhook_id)
    delivery, event = await webhook_service.redeliver_one(session, policy, endpoint, delivery_id)
    await session.commit()
    _wake_dispatcher(wakeups)
    return Delivery.from_row(delivery, event.event_id, event.type, event.instance_id)


@router.post(
    "/{webhook_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Redelivered,
    responses=problem_responses(409),
)
async def redeliver_failed(
    webhook_id: EndpointId,
    data: RedeliverFailed,
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    policy: RetryPolicyDep,
    wakeups: WakeupsDep,
) -> Redelivered:
    """Replay the dead letters: every failed delivery created since `since` (and before `until`) goes out again, in
    its original order."""
    endpoint = await webhook_service.get(session, principal, webhook_id)
    count = await webhook_service.redeliver_failed(session, policy, endpoint, since=data.since, until=data.until)
    await session.commit()
    _wake_dispatcher(wakeups)
    return Redelivered(redelivered=count)


def _wake_dispatcher(wakeups: Wakeups) -> None:
    wakeups.notify([webhook_service.WAKE_KEY])
