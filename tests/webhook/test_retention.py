"""Retention: old events and finished deliveries go; an event a pending delivery still carries stays."""

from __future__ import annotations

import datetime as dt

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select, update

from tests.support.api import Api
from whatsapp_gateway.db import utcnow
from whatsapp_gateway.event import service as event_service
from whatsapp_gateway.event.models import Event
from whatsapp_gateway.notify import Wakeups
from whatsapp_gateway.webhook.client import DeliveryClient
from whatsapp_gateway.webhook.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from whatsapp_gateway.webhook.targets import TargetResolver
from whatsapp_gateway.webhook.tasks import Dispatcher, Sender


async def test_pruning_keeps_what_is_recent_or_still_to_deliver(
    app: FastAPI, client: httpx.AsyncClient, api: Api
) -> None:
    tenant = await api.new_tenant()
    instance = await api.new_instance(tenant)
    created = await client.post("/api/webhooks", json={"url": "https://93.184.215.14/hooks"}, headers=tenant.headers)
    assert created.status_code == 201, created.text
    policy = app.state.retry_policy
    sessionmaker = app.state.sessionmaker
    async with sessionmaker() as session:
        endpoint = await session.get(WebhookEndpoint, created.json()["id"])
        events = {}
        for name in ("old_delivered", "old_pending", "old_failed", "recent"):
            events[name] = await event_service.record(
                session, policy, tenant_id=tenant.id, instance_id=instance["id"], type="message.received", data={}
            )
        await session.commit()
        assert endpoint is not None
        long_ago = utcnow() - dt.timedelta(days=40)
        for name, status in (("old_delivered", DeliveryStatus.succeeded), ("old_failed", DeliveryStatus.failed)):
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.event_seq == events[name].seq)
                .values(status=status, created_at=long_ago)
            )
        for name in ("old_delivered", "old_pending", "old_failed"):
            await session.execute(update(Event).where(Event.seq == events[name].seq).values(received_at=long_ago))
        await session.commit()

    delivery_client = DeliveryClient()
    dispatcher = Dispatcher(
        sessionmaker,
        Wakeups(),
        Sender(delivery_client, TargetResolver(allow_private=False), timeout=1),
        app.state.secret_box,
        policy,
        app.state.settings,  # 30 days for both, by default
        holder="test:0",
    )
    await dispatcher.prune()
    await delivery_client.aclose()

    async with sessionmaker() as session:
        left = set(await session.scalars(select(Event.event_id).where(Event.tenant_id == tenant.id)))
        deliveries = await session.scalar(select(func.count()).select_from(WebhookDelivery))
    # The old ones went with their finished deliveries; the one still to deliver stays, old or not.
    assert left == {events["old_pending"].event_id, events["recent"].event_id}
    assert deliveries == 2
