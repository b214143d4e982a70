"""Webhook endpoints, the outbox, the delivery log and replays.

The outbox: `enqueue` writes one delivery per interested endpoint in the transaction that records the events, so an
event is stored with its deliveries or not at all. The dispatcher (`tasks.py`) then sends them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_gateway.api_key.principal import Principal
from whatsapp_gateway.crypto import SecretBox, SecretUnreadable
from whatsapp_gateway.db import utcnow
from whatsapp_gateway.errors import Conflict, NotFound, UnprocessableInput
from whatsapp_gateway.event.models import Event
from whatsapp_gateway.ids import new_id
from whatsapp_gateway.webhook.models import (
    ENDPOINT_ID_PREFIX,
    TENANT_QUEUE,
    DeliveryStatus,
    DisabledReason,
    WebhookDelivery,
    WebhookEndpoint,
)
from whatsapp_gateway.webhook.repository import WebhookRepository
from whatsapp_gateway.webhook.schemas import WebhookEndpointUpdate
from whatsapp_gateway.webhook.signing import new_secret
from whatsapp_gateway.webhook.targets import TargetNotAllowed, TargetResolver, TargetUnresolvable

WAKE_KEY = "webhooks"
# Events that are never fanned out to every endpoint: a test event goes to the endpoint it tests only.
DIRECTED_TYPES = frozenset({"webhook.test"})


class WebhookEndpointNotFound(NotFound):
    code, title = "webhook_endpoint_not_found", "Webhook endpoint not found"


class DeliveryNotFound(NotFound):
    code, title = "webhook_delivery_not_found", "Webhook delivery not found"


class TargetRefused(UnprocessableInput):
    code, title = "webhook_target_not_allowed", "The webhook URL points at an address the gateway may not call"


class EndpointDisabled(Conflict):
    code, title = "webhook_endpoint_disabled", "The webhook endpoint is disabled"


@dataclass(frozen=True)
class RetryPolicy:
    delays: Sequence[float]

    @property
    def horizon(self) -> dt.timedelta:
        """How long a delivery is retried before it is dead-lettered."""
        return dt.timedelta(seconds=sum(self.delays))


# -- endpoints ---------------------------------------------------------------------------------------------------


async def check_target(resolver: TargetResolver, url: str) -> None:
    """Refuse a URL whose host is, or now resolves to, a non-public address (unless the operator allows them)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        await resolver.resolve(host, port)
    except TargetNotAllowed as exc:
        raise TargetRefused(
            f"{exc}. Operators can allow such targets with WEBHOOK_ALLOW_PRIVATE_TARGETS=true."
        ) from exc
    except TargetUnresolvable:
        pass  # it may resolve later; every delivery checks the address it connects to again


def seal_headers(box: SecretBox, endpoint_id: str, headers: dict[str, str]) -> str | None:
    return box.seal(json.dumps(headers), context=f"{endpoint_id}:headers") if headers else None


def open_headers(box: SecretBox, endpoint: WebhookEndpoint) -> dict[str, str]:
    if endpoint.headers_sealed is None:
        return {}
    headers: dict[str, str] = json.loads(box.open(endpoint.headers_sealed, context=f"{endpoint.id}:headers"))
    return headers


def open_secrets(box: SecretBox, endpoint: WebhookEndpoint, now: dt.datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during a rotation."""
    found = []
    if endpoint.secret_sealed is not None:
        found.append(box.open(endpoint.secret_sealed, context=f"{endpoint.id}:secret"))
    if (
        endpoint.previous_secret_sealed is not None
        and endpoint.previous_secret_expires_at is not None
        and endpoint.previous_secret_expires_at > now
    ):
        found.append(box.open(endpoint.previous_secret_sealed, context=f"{endpoint.id}:previous-secret"))
    return found


async def create(
    session: AsyncSession,
    box: SecretBox,
    resolver: TargetResolver,
    *,
    tenant_id: str,
    instance_id: str | None,
    url: str,
    description: str | None = None,
    event_types: Sequence[str] = (),
    headers: dict[str, str] | None = None,
    enabled: bool = True,
    instance_webhook: bool = False,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret, which the caller shows once."""
    await check_target(resolver, url)
    endpoint = WebhookEndpoint(
        id=new_id(ENDPOINT_ID_PREFIX),  # made here, not at the flush: the secrets are sealed with it
        tenant_id=tenant_id,
        instance_id=instance_id,
        instance_webhook=instance_webhook,
        url=url,
        description=description,
        event_types=list(event_types),
        enabled=enabled,
        disabled_reason=None if enabled else DisabledReason.manual,
        disabled_at=None if enabled else utcnow(),
    )
    secret = new_secret()
    endpoint.secret_sealed = box.seal(secret, context=f"{endpoint.id}:secret")
    endpoint.headers_sealed = seal_headers(box, endpoint.id, headers or {})
    await WebhookRepository(session).add(endpoint)
    return endpoint, secret


async def get(session: AsyncSession, principal: Principal, endpoint_id: str) -> WebhookEndpoint:
    endpoint = await WebhookRepository(session).get(endpoint_id)
    if endpoint is None or not principal.can_see_tenant(endpoint.tenant_id):
        raise WebhookEndpointNotFound(f"No webhook endpoint {endpoint_id!r}.")
    return endpoint


async def list_page(
    session: AsyncSession, *, tenant_id: str | None, instance_id: str | None, limit: int, after_id: str | None
) -> Sequence[WebhookEndpoint]:
    return await WebhookRepository(session).list_page(
        tenant_id=tenant_id, instance_id=instance_id, limit=limit, after_id=after_id
    )


async def update(
    session: AsyncSession,
    box: SecretBox,
    resolver: TargetResolver,
    endpoint: WebhookEndpoint,
    data: WebhookEndpointUpdate,
) -> WebhookEndpoint:
    given = data.model_fields_set
    repository = WebhookRepository(session)
    if "url" in given and data.url is not None:
        endpoint.url = str(data.url)
        await check_target(resolver, endpoint.url)
        if endpoint.instance_webhook and endpoint.instance_id is not None:
            await repository.mirror_instance_webhook(endpoint.instance_id, endpoint.url)
    if "description" in given:
        endpoint.description = data.description
    if "event_types" in given and data.event_types is not None:
        endpoint.event_types = list(data.event_types)
    if "headers" in given and data.headers is not None:
        endpoint.headers_sealed = seal_headers(box, endpoint.id, data.headers)
    if "enabled" in given and data.enabled is not None:
        if data.enabled and not endpoint.enabled:
            if endpoint.secret_sealed is None:
                raise EndpointDisabled("This endpoint has no signing secret yet: rotate its secret to turn it on.")
            endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = True, None, None
            endpoint.failing_since = None
        elif not data.enabled and endpoint.enabled:
            disable(endpoint, DisabledReason.manual)
    endpoint.updated_at = utcnow()
    await session.flush()
    return endpoint


def disable(endpoint: WebhookEndpoint, reason: DisabledReason) -> None:
    """Stop sending to it. Its pending deliveries wait, in order, until it is turned back on."""
    endpoint.enabled = False
    endpoint.disabled_reason = reason
    endpoint.disabled_at = utcnow()


async def delete(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    repository = WebhookRepository(session)
    if endpoint.instance_webhook and endpoint.instance_id is not None:
        await repository.mirror_instance_webhook(endpoint.instance_id, None)
    await repository.delete(endpoint)


async def rotate_secret(
    session: AsyncSession, box: SecretBox, endpoint: WebhookEndpoint, *, previous_valid_for: dt.timedelta
) -> str:
    """A new secret; the old one keeps signing beside it for `previous_valid_for`."""
    now = utcnow()
    secret = new_secret()
    current = None
    if endpoint.secret_sealed is not None and previous_valid_for > dt.timedelta(0):
        with contextlib.suppress(SecretUnreadable):  # sealed under another SECRET_KEY: nothing to keep signing with
            current = box.open(endpoint.secret_sealed, context=f"{endpoint.id}:secret")
    if current is not None:
        endpoint.previous_secret_sealed = box.seal(current, context=f"{endpoint.id}:previous-secret")
        endpoint.previous_secret_expires_at = now + previous_valid_for
    else:
        endpoint.previous_secret_sealed = None
        endpoint.previous_secret_expires_at = None
    endpoint.secret_sealed = box.seal(secret, context=f"{endpoint.id}:secret")
    if endpoint.disabled_reason == DisabledReason.needs_secret:
        endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = True, None, None
    endpoint.updated_at = now
    await session.flush()
    return secret


def header_names(box: SecretBox, endpoint: WebhookEndpoint) -> list[str]:
    try:
        return sorted(open_headers(box, endpoint))
    except SecretUnreadable:  # sealed under another SECRET_KEY: the endpoint shows none until they are set again
        return []


# -- the instance's own webhook (the original sketch's `webhook` field) ----------------------------------------


async def set_instance_webhook(
    session: AsyncSession,
    box: SecretBox,
    resolver: TargetResolver,
    *,
    tenant_id: str,
    instance_id: str,
    url: str | None,
) -> str | None:
    """Point the instance's own endpoint at `url` (None removes it); the new secret when one was made."""
    repository = WebhookRepository(session)
    endpoint = await repository.instance_webhook(instance_id)
    if url is None:
        if endpoint is not None:
            await delete(session, endpoint)
        else:
            await repository.mirror_instance_webhook(instance_id, None)
        return None
    if endpoint is not None:
        await check_target(resolver, url)
        endpoint.url = url
        endpoint.updated_at = utcnow()
        await repository.mirror_instance_webhook(instance_id, url)
        await session.flush()
        return None
    _, secret = await create(
        session, box, resolver, tenant_id=tenant_id, instance_id=instance_id, url=url, instance_webhook=True
    )
    await repository.mirror_instance_webhook(instance_id, url)
    return secret


# -- the outbox ----------------------------------------------------------------------------------------------


async def enqueue(
    session: AsyncSession,
    policy: RetryPolicy,
    *,
    tenant_id: str,
    instance_id: str | None,
    events: Sequence[Event],
    only_endpoint: WebhookEndpoint | None = None,
) -> int:
    """Queue these just-recorded events (flushed, so numbered) for every endpoint that wants them; how many deliveries.

    Call it in the transaction that records the events: that is what makes an event and its deliveries one fact.
    """
    if not events:
        return 0
    repository = WebhookRepository(session)
    endpoints = [only_endpoint] if only_endpoint is not None else await repository.receiving(tenant_id, instance_id)
    now = utcnow()
    queued = 0
    for endpoint in endpoints:
        # A directed event (a test) goes to its one endpoint whatever that endpoint filters, and to no other.
        wanted = (
            list(events)
            if only_endpoint is not None
            else [e for e in events if e.type not in DIRECTED_TYPES and endpoint.wants(e.type)]
        )
        if not wanted:
            continue
        rows = [
            {"event_seq": e.seq, "created_at": now, "deadline_at": now + policy.horizon, "next_attempt_at": now}
            for e in wanted
        ]
        await repository.enqueue(endpoint.id, instance_id or TENANT_QUEUE, instance_id, rows)
        queued += len(rows)
    return queued


# -- the delivery log ------------------------------------------------------------------------------------------


async def deliveries_page(
    session: AsyncSession, endpoint: WebhookEndpoint, *, status: DeliveryStatus | None, limit: int, after_id: int | None
) -> Sequence[tuple[WebhookDelivery, Event]]:
    return await WebhookRepository(session).deliveries_page(endpoint.id, status=status, limit=limit, after_id=after_id)


async def get_delivery(
    session: AsyncSession, endpoint: WebhookEndpoint, delivery_id: int
) -> tuple[WebhookDelivery, Event]:
    found = await WebhookRepository(session).delivery(endpoint.id, delivery_id)
    if found is None:
        raise DeliveryNotFound(f"No delivery {delivery_id} for endpoint {endpoint.id}.")
    return found


async def delivery_of_event(
    session: AsyncSession, endpoint: WebhookEndpoint, event_seq: int
) -> tuple[WebhookDelivery, Event]:
    found = await WebhookRepository(session).delivery_of_event(endpoint.id, event_seq)
    if found is None:
        raise DeliveryNotFound(f"No delivery of event {event_seq} for endpoint {endpoint.id}.")
    return found


async def redeliver_one(
    session: AsyncSession, policy: RetryPolicy, endpoint: WebhookEndpoint, delivery_id: int
) -> tuple[WebhookDelivery, Event]:
    """Send a delivery again (succeeded or dead-lettered); a pending one is already on its way."""
    require_enabled(endpoint)
    await get_delivery(session, endpoint, delivery_id)
    now = utcnow()
    await WebhookRepository(session).requeue(endpoint.id, ids=[delivery_id], now=now, deadline_at=now + policy.horizon)
    return await get_delivery(session, endpoint, delivery_id)


async def redeliver_failed(
    session: AsyncSession,
    policy: RetryPolicy,
    endpoint: WebhookEndpoint,
    *,
    since: dt.datetime,
    until: dt.datetime | None,
) -> int:
    """Send again every dead-lettered delivery created in [since, until); they keep their original order."""
    require_enabled(endpoint)
    now = utcnow()
    return await WebhookRepository(session).requeue(
        endpoint.id, failed_between=(since, until or now), now=now, deadline_at=now + policy.horizon
    )


def require_enabled(endpoint: WebhookEndpoint) -> None:
    if not endpoint.enabled:
        raise EndpointDisabled('Turn the endpoint back on (PATCH {"enabled": true}) before sending to it again.')
