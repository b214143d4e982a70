"""Outbound messages: validation, idempotency, hand-over to the worker, and status from the worker's receipts.

A send has two commit points on purpose. The message is committed as `queued` *before* the worker is called, so a
crash of the control plane in between leaves a row that the retry loop sends later; and the worker de-duplicates
by the message id, so a send retried after a lost answer is never sent twice.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from whatsapp_gateway.api_key.principal import Principal
from whatsapp_gateway.config import Settings
from whatsapp_gateway.db import utcnow
from whatsapp_gateway.errors import Conflict, NotFound, ProblemError, ServiceUnavailable, UnprocessableInput
from whatsapp_gateway.instance import service as instance_service
from whatsapp_gateway.instance.fields import normalize_phone
from whatsapp_gateway.instance.models import ConnectionState, Instance, Provider
from whatsapp_gateway.message.models import STATUS_RANK, Message, MessageStatus
from whatsapp_gateway.message.repository import MessageRepository
from whatsapp_gateway.message.schemas import MessageSend, MessageType
from whatsapp_gateway.provider import registry
from whatsapp_gateway.provider.client import InstanceNotRunning, WorkerClient, WorkerProblem, WorkerUnavailable
from whatsapp_gateway.provider.direct import DirectProviders
from whatsapp_gateway.provider.service import target_of

log = structlog.get_logger(__name__)

_JID = re.compile(r"^[0-9]{1,20}(:[0-9]{1,4})?@(s\.whatsapp\.net|lid)$|^[0-9]{1,20}(-[0-9]{1,20})?@g\.us$")
# Queued messages older than this are given up as failed: a message delivered a day late does more harm than good.
QUEUED_MAX_AGE = dt.timedelta(hours=24)
# The request that created a message tries the worker itself; the retry loop leaves it this long to do so.
RETRY_AFTER = dt.timedelta(seconds=5)
# A worker's refusals that say "not now" rather than "never": a message already accepted stays queued on them (the
# connection state the control plane saw was a moment old), until it goes out or QUEUED_MAX_AGE passes.
_NOT_YET = frozenset({"not_connected"})
# Sends during a migration are held (kept queued) while it lasts up to this long; later ones are refused with 503.
MIGRATION_HOLD = dt.timedelta(seconds=60)
MIGRATION_RETRY_AFTER_SECONDS = 10
# Instances of every provider go to their worker unless a provider is driven by the control plane itself.
NO_DIRECT_PROVIDERS: DirectProviders = MappingProxyType({})


class MessageNotFound(NotFound):
    code, title = "message_not_found", "Message not found"


class InvalidRecipient(UnprocessableInput):
    code, title = "invalid_recipient", "The recipient is not a phone number or a WhatsApp id"


class UnsupportedMessageType(UnprocessableInput):
    code, title = "unsupported_message_type", "This instance's provider cannot send that type of message"


class InvalidMedia(UnprocessableInput):
    code, title = "invalid_media", "The media is not valid base64"


class MediaTooLarge(ProblemError):
    status, code, title = 413, "media_too_large", "The media is larger than allowed"


class NotConnected(Conflict):
    code, title = "not_connected", "The instance is not connected to WhatsApp"


class InstanceMigrating(ServiceUnavailable):
    code, title = "instance_migrating", "The instance is moving to another node"


class IdempotencyKeyReused(UnprocessableInput):
    code, title = "idempotency_key_reused", "This Idempotency-Key was used for a different message"


def normalize_recipient(to: str) -> str:
    if "@" in to:
        if not _JID.match(to):
            raise InvalidRecipient(f"{to!r} is not a WhatsApp id (`…@s.whatsapp.net`, `…@g.us`, `…@lid`).")
        return to
    try:
        return normalize_phone(to)
    except ValueError as exc:
        raise InvalidRecipient(f"{to!r} is not a phone number: {exc}.") from None


def _check_media(body: MessageSend, settings: Settings) -> tuple[str, int] | None:
    """Decode inline media once, to refuse what is not base64 or too large before anything is stored."""
    if body.media is None or body.media.base64 is None:
        return None
    try:
        raw = base64.b64decode(body.media.base64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidMedia("`media.base64` must be standard base64 (A-Z, a-z, 0-9, +, /, = padding).") from None
    limit = settings.document_max_bytes if body.type is MessageType.document else settings.media_max_bytes
    if len(raw) > limit:
        raise MediaTooLarge(f"The {body.type} is {len(raw)} bytes; at most {limit} are allowed.")
    return hashlib.sha256(raw).hexdigest(), len(raw)


def _worker_body(message: Message) -> dict[str, Any]:
    return {"id": message.id, **message.body}


def _mark_sent(message: Message, result: dict[str, Any]) -> None:
    provider_id = result.get("provider_message_id")
    message.provider_message_id = provider_id[:128] if isinstance(provider_id, str) else None
    if result.get("status") == MessageStatus.failed:
        _advance(message, MessageStatus.failed, utcnow(), error=str(result.get("error") or "failed")[:1000])
    elif result.get("status") != MessageStatus.queued:
        _advance(message, MessageStatus.sent, utcnow())
    # Inline media has done its job; the row keeps only its fingerprint.
    media = message.body.get("media")
    if isinstance(media, dict) and "base64" in media:
        message.body = {**message.body, "media": {k: v for k, v in media.items() if k != "base64"}}


def _advance(message: Message, status: MessageStatus, at: dt.datetime, error: str | None = None) -> bool:
    if message.status is MessageStatus.failed or STATUS_RANK[status] <= STATUS_RANK[message.status]:
        return False
    message.status = status
    if status is MessageStatus.sent:
        message.sent_at = at
    elif status is MessageStatus.delivered:
        message.delivered_at = at
    elif status in (MessageStatus.read, MessageStatus.played):
        message.read_at = message.read_at or at
    elif status is MessageStatus.failed:
        message.failed_at, message.error = at, error or "failed"
    return True


async def send(
    session: AsyncSession,
    principal: Principal,
    reference: str,
    body: MessageSend,
    *,
    idempotency_key: str | None,
    workers: WorkerClient,
    settings: Settings,
    direct: DirectProviders = NO_DIRECT_PROVIDERS,
) -> tuple[Message, bool]:
    """Send a message. Returns it and whether this call created it (False: an idempotent replay)."""
    instance = await instance_service.get(session, principal, reference)
    if body.type not in registry.get(instance.provider).message_types:
        raise UnsupportedMessageType(f"The {instance.provider} provider cannot send `{body.type}` messages.")
    if body.media is not None and body.media.id is not None and instance.provider is not Provider.waba:
        raise UnsupportedMessageType("`media.id` (a media id uploaded to Meta) is for `waba` instances only.")
    recipient = normalize_recipient(body.to)
    fingerprint = _check_media(body, settings)
    payload = body.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    payload.update(to=recipient, type=body.type.value)
    request_hash = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    repository = MessageRepository(session)
    if idempotency_key is not None:
        existing = await repository.find_by_idempotency_key(instance.id, idempotency_key)
        if existing is not None:
            return _replay(existing, request_hash), False
    # A migrating instance holds sends (they go out once it is connected on its new node), for a while.
    migrating = instance.migration_started_at is not None
    if migrating and utcnow() - instance.migration_started_at > MIGRATION_HOLD:  # type: ignore[operator]
        raise InstanceMigrating(
            "The instance has been moving to another node for longer than expected; try again shortly.",
            headers={"Retry-After": str(MIGRATION_RETRY_AFTER_SECONDS)},
        )
    if not migrating and instance.connection_state is not ConnectionState.connected:
        state = instance.connection_state.value if instance.connection_state else "not started"
        raise NotConnected(f"The instance is {state}; pair it (GET /qr) or wait until it is connected.")
    if fingerprint is not None:
        payload["media"].update(sha256=fingerprint[0], size=fingerprint[1])

    message = Message(
        instance_id=instance.id,
        tenant_id=instance.tenant_id,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        recipient=recipient,
        type=body.type.value,
        body=payload,
        status=MessageStatus.queued,
    )
    try:
        await repository.add(message)
        await session.commit()
    except IntegrityError:  # the same key, sent concurrently: the other request owns the message
        await session.rollback()
        assert idempotency_key is not None
        existing = await repository.find_by_idempotency_key(instance.id, idempotency_key)
        if existing is None:
            raise
        return _replay(existing, request_hash), False
    if migrating:
        return message, True  # queued: the retry loop hands it over once the instance is connected again

    try:
        await _hand_over(session, instance, message, workers, direct)
    except WorkerProblem:
        # The worker refused the message for good (bad recipient, not connected, …): it was never sent, so it is
        # not kept, and a retry with the same Idempotency-Key tries again.
        await repository.delete(message)
        await session.commit()
        raise
    await session.commit()
    return message, True


def _replay(existing: Message, request_hash: str) -> Message:
    if existing.request_hash != request_hash:
        raise IdempotencyKeyReused("Use a new Idempotency-Key for a new message.")
    return existing


async def _hand_over(
    session: AsyncSession, instance: Instance, message: Message, workers: WorkerClient, direct: DirectProviders
) -> None:
    """Give the message to the worker (or to the provider the control plane drives itself, provider/direct.py).
    Transient failures leave it queued for the retry loop; refusals raise."""
    message.attempts += 1
    direct_provider = direct.get(instance.provider)
    try:
        if direct_provider is not None:
            result = await direct_provider.send_message(session, instance, message)
        else:
            result = await workers.json(target_of(instance), "POST", "/v1/messages", json=_worker_body(message))
    except (WorkerUnavailable, InstanceNotRunning) as exc:
        log.info("message_queued", message_id=message.id, reason=exc.code)
        return
    except WorkerProblem as exc:
        if exc.status >= 500 or exc.code == "epoch_superseded":
            log.info("message_queued", message_id=message.id, reason=exc.code)
            return
        raise
    _mark_sent(message, result)


async def get(session: AsyncSession, principal: Principal, reference: str, message_id: str) -> Message:
    instance = await instance_service.get(session, principal, reference)
    message = await MessageRepository(session).get(instance.id, message_id)
    if message is None:
        raise MessageNotFound(f"No message {message_id!r} on this instance.")
    return message


async def list_page(
    session: AsyncSession,
    principal: Principal,
    reference: str,
    *,
    status: MessageStatus | None,
    after_id: str | None,
    limit: int,
) -> Sequence[Message]:
    instance = await instance_service.get(session, principal, reference)
    return await MessageRepository(session).list_page(instance.id, status=status, after_id=after_id, limit=limit)


async def id_of_provider_message(session: AsyncSession, instance_id: str, provider_message_id: str) -> str | None:
    """Our id of the message the provider knows by `provider_message_id`, if it was sent through the gateway."""
    message = await MessageRepository(session).find_by_provider_id(instance_id, provider_message_id)
    return message.id if message is not None else None


async def apply_status_event(
    session: AsyncSession, instance_id: str, data: dict[str, Any], timestamp: dt.datetime
) -> None:
    """Move one of our messages forward on a worker's `message.status` report."""
    try:
        status = MessageStatus(str(data.get("status")))
    except ValueError:
        return
    repository = MessageRepository(session)
    message = None
    if isinstance(data.get("id"), str):
        message = await repository.get(instance_id, data["id"])
    if message is None and isinstance(data.get("provider_message_id"), str):
        message = await repository.find_by_provider_id(instance_id, data["provider_message_id"])
    if message is None:
        return  # a message sent from another device, or before the gateway knew the number
    if message.provider_message_id is None and isinstance(data.get("provider_message_id"), str):
        message.provider_message_id = data["provider_message_id"][:128]
    error = data.get("error")
    _advance(message, status, timestamp, error=str(error)[:1000] if error else None)


async def retry_queued(
    sessionmaker: async_sessionmaker[AsyncSession],
    workers: WorkerClient,
    direct: DirectProviders = NO_DIRECT_PROVIDERS,
) -> int:
    """Hand queued messages to their workers again (the control plane crashed, or the worker was away)."""
    handed = 0
    async with sessionmaker() as session:
        now = utcnow()
        for message in await MessageRepository(session).queued_before(now - RETRY_AFTER, limit=100):
            if now - message.created_at > QUEUED_MAX_AGE:
                _advance(message, MessageStatus.failed, now, error="expired: not sent within 24 hours")
                await session.commit()
                continue
            instance = await instance_service.get_for_worker(session, message.instance_id)
            if instance is None or instance.connection_state is not ConnectionState.connected:
                continue
            if instance.migration_started_at is not None:
                continue  # held until the worker on the new node is connected (the old one may still say so)
            try:
                await _hand_over(session, instance, message, workers, direct)
            except WorkerProblem as exc:
                if exc.code in _NOT_YET:
                    await session.commit()  # the attempt is counted; the message stays queued
                    continue
                _advance(message, MessageStatus.failed, utcnow(), error=f"{exc.code}: {exc.detail or exc.title}")
            handed += message.status is not MessageStatus.queued
            await session.commit()
    return handed
