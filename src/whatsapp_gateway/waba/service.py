"""The `waba` provider: sends through the Graph API, and Meta's webhooks turned into the gateway's events.

It implements provider/direct.py's `DirectProvider`, so the message service stores and retries its sends exactly as
it does a worker's. Events it raises (a message refused by Meta, a token Meta no longer takes, everything Meta's
webhooks report) go through the event store like a worker's, with their webhook deliveries in the same transaction.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import mimetypes
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from whatsapp_gateway.config import Settings
from whatsapp_gateway.crypto import SecretBox, SecretUnreadable
from whatsapp_gateway.db import utcnow
from whatsapp_gateway.errors import NotFound, ProblemError, UnprocessableInput
from whatsapp_gateway.event import service as event_service
from whatsapp_gateway.event.schemas import WorkerEvent
from whatsapp_gateway.ids import new_id
from whatsapp_gateway.instance import service as instance_service
from whatsapp_gateway.instance.models import Instance, Provider
from whatsapp_gateway.message import service as message_service
from whatsapp_gateway.message.models import Message
from whatsapp_gateway.notify import Wakeups
from whatsapp_gateway.provider.auth import WorkerCaller
from whatsapp_gateway.provider.client import WorkerProblem, WorkerUnavailable
from whatsapp_gateway.waba import build, errors, inbound
from whatsapp_gateway.waba.errors import GraphError, Outcome
from whatsapp_gateway.waba.graph import Credentials, GraphClient
from whatsapp_gateway.waba.limiter import ThroughputLimiter
from whatsapp_gateway.waba.schemas import WabaConfig
from whatsapp_gateway.webhook.service import RetryPolicy

log = structlog.get_logger(__name__)

T = TypeVar("T")

# Waits before retrying a call Meta throttled (130429, 131056, …), each varied by ±20%. After the last, a send stays
# `queued` and the message retry loop takes it up again a few seconds later.
THROTTLE_BACKOFF_SECONDS = (0.5, 1.0, 2.0)
# Meta's webhook payloads are at most 3 MB.
WEBHOOK_MAX_BYTES = 4 * 1024 * 1024


class WebhookInstanceNotFound(NotFound):
    code, title = "instance_not_found", "Instance not found"


class SignatureInvalid(ProblemError):
    status, code, title = 401, "waba_signature_invalid", "X-Hub-Signature-256 does not match the body"


class VerifyTokenMismatch(ProblemError):
    status, code, title = 403, "waba_verify_token_mismatch", "The subscription handshake was refused"


class PayloadInvalid(ProblemError):
    status, code, title = 400, "waba_payload_invalid", "The webhook body is not a JSON object"


class TypingNeedsMessage(UnprocessableInput):
    code, title = "waba_typing_needs_message", "The Cloud API shows typing against a received message"


class WabaProvider:
    def __init__(
        self,
        settings: Settings,
        box: SecretBox,
        wakeups: Wakeups,
        policy: RetryPolicy,
        *,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._settings = settings
        self._box = box
        self._wakeups = wakeups
        self._policy = policy
        self._graph = GraphClient(
            http
            or httpx.AsyncClient(
                timeout=httpx.Timeout(settings.waba_timeout_seconds, connect=5.0),
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
            ),
            settings.waba_graph_url,
        )
        self._limiter = ThroughputLimiter(settings.waba_rate_limit_per_second)

    async def aclose(self) -> None:
        await self._graph.aclose()

    # -- settings ---------------------------------------------------------------------------------------

    def config(self, instance: Instance) -> WabaConfig:
        try:
            opened = instance_service.open_provider_config(self._box, instance)
            if opened is None:
                raise errors.config_unreadable()
            return WabaConfig.model_validate_json(opened)
        except (SecretUnreadable, ValidationError):
            log.error("waba_config_unreadable", instance_id=instance.id)
            raise errors.config_unreadable() from None

    def _credentials(self, config: WabaConfig) -> Credentials:
        return Credentials(
            config.phone_number_id, config.access_token, config.api_version or self._settings.waba_api_version
        )

    # -- outbound (DirectProvider) ------------------------------------------------------------------------

    async def send_message(self, session: AsyncSession, instance: Instance, message: Message) -> dict[str, Any]:
        credentials = self._credentials(self.config(instance))
        payload = message.body
        media = payload.get("media")
        uploaded: str | None = None
        try:
            if isinstance(media, dict) and "base64" in media:
                kind = str(payload["type"])
                mimetype = build.check_upload(kind, media.get("mimetype"), int(media.get("size") or 0))
                build.message_body(payload, uploaded_media_id="pending")  # every limit before the upload
                content = base64.b64decode(media["base64"])
                filename = media.get("filename") or f"{message.id}{mimetypes.guess_extension(mimetype) or ''}"
                uploaded = await self._call(
                    credentials, lambda: self._graph.upload(credentials, content, mimetype, filename)
                )
            body = build.message_body(payload, uploaded_media_id=uploaded)
            answer = await self._call(credentials, lambda: self._graph.send(credentials, body))
        except GraphError as error:
            if error.outcome is Outcome.undeliverable:
                # Meta took the request and refused the message (the 24-hour window, …): the message is kept, as
                # failed, and the customer hears of it as of any failure reported later by a status webhook.
                reason = str(error)
                await self._record(
                    session,
                    instance,
                    inbound.event_id(message.id, "failed"),
                    "message.status",
                    {
                        "id": message.id,
                        "provider_message_id": None,
                        "status": "failed",
                        "error": reason,
                        "errors": [{"code": error.code, "title": error.message, "details": error.details}],
                    },
                )
                return {"status": "failed", "error": reason}
            raise await self._refusal(session, instance, error) from error
        messages = answer.get("messages")
        wamid = (
            messages[0].get("id") if isinstance(messages, list) and messages and isinstance(messages[0], dict) else None
        )
        return {"provider_message_id": wamid if isinstance(wamid, str) else None, "status": "sent"}

    async def mark_read(self, session: AsyncSession, instance: Instance, message_ids: list[str]) -> None:
        credentials = self._credentials(self.config(instance))
        for message_id in message_ids:
            body = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
            await self._call_or_refuse(
                session, instance, credentials, functools.partial(self._graph.send, credentials, body)
            )

    async def presence(
        self, session: AsyncSession, instance: Instance, chat: str, state: str, message_id: str | None
    ) -> None:
        if state == "paused":
            return  # Meta clears the indicator itself (after 25 s, or on our reply)
        if state != "composing":
            raise errors.unsupported(f"The Cloud API shows only typing (`composing`), not `{state}`.")
        if message_id is None:
            raise TypingNeedsMessage("Give `message_id`: the received message to show typing against.")
        credentials = self._credentials(self.config(instance))
        body = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": message_id,
            "typing_indicator": {"type": "text"},
        }
        await self._call_or_refuse(session, instance, credentials, lambda: self._graph.send(credentials, body))

    async def media(self, session: AsyncSession, instance: Instance, media_id: str) -> tuple[bytes, str]:
        credentials = self._credentials(self.config(instance))
        try:
            return await self._call(
                credentials,
                lambda: self._graph.download(credentials, media_id, max_bytes=self._settings.document_max_bytes),
            )
        except GraphError as error:
            if error.code == 100:
                raise WorkerProblem(404, "media_not_found", "Media not found", str(error)) from error
            raise await self._refusal(session, instance, error) from error

    async def _call_or_refuse(
        self, session: AsyncSession, instance: Instance, credentials: Credentials, call: Callable[[], Awaitable[T]]
    ) -> T:
        try:
            return await self._call(credentials, call)
        except GraphError as error:
            raise await self._refusal(session, instance, error) from error

    async def _call(self, credentials: Credentials, call: Callable[[], Awaitable[T]]) -> T:
        """One Graph API call at the number's pace, retried with backoff while Meta throttles it."""
        for delay in (*THROTTLE_BACKOFF_SECONDS, None):
            await self._limiter.acquire(credentials.phone_number_id)
            try:
                return await call()
            except GraphError as error:
                if error.outcome is not Outcome.throttled or delay is None:
                    raise
                log.info("waba_throttled", code=error.code, retry_in=delay, phone_number_id=credentials.phone_number_id)
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not secrecy
        raise AssertionError("unreachable")

    async def _refusal(self, session: AsyncSession, instance: Instance, error: GraphError) -> ProblemError:
        outcome = error.outcome
        if outcome is Outcome.token_invalid:
            await self._fail_instance(session, instance, str(error))
            return errors.token_invalid(error)
        if outcome in (Outcome.throttled, Outcome.unavailable):
            return WorkerUnavailable(f"Meta did not take the request now ({error}); it is retried.")
        if outcome is Outcome.invalid_request:
            return errors.invalid_request(error)
        if outcome is Outcome.not_permitted:
            return errors.not_permitted(error)
        return errors.rejected(error)

    async def _fail_instance(self, session: AsyncSession, instance: Instance, reason: str) -> None:
        """Meta no longer takes the token: the instance is `failed` until it gets a new one, and the customer hears
        of it. Committed here: the request that found out is about to fail, and must not take this with it."""
        log.warning("waba_token_refused", instance_id=instance.id, reason=reason)
        data = {"connection_state": "failed", "reason": f"Meta refused the access token: {reason}"[:1000]}
        await self._record(session, instance, new_id(event_service.EVENT_ID_PREFIX), "instance.status", data)
        await session.commit()
        self._wake(instance)

    async def _record(
        self, session: AsyncSession, instance: Instance, event_id: str, type: str, data: dict[str, Any]
    ) -> None:
        event = WorkerEvent(id=event_id, type=type, timestamp=utcnow(), data=data)
        # Committed by the caller; webhook dispatchers find it within their poll interval (a second).
        await event_service.ingest(session, _caller(instance), [event], self._policy)

    def _wake(self, instance: Instance) -> None:
        self._wakeups.notify(event_service.wake_keys_of_event(instance.tenant_id, instance.id))

    # -- inbound (Meta's webhooks) ------------------------------------------------------------------------

    async def webhook_instance(self, session: AsyncSession, instance_id: str) -> tuple[Instance, WabaConfig]:
        instance = await instance_service.get_for_worker(session, instance_id)
        if instance is None or instance.provider is not Provider.waba:
            raise WebhookInstanceNotFound(f"No waba instance {instance_id!r}.")
        return instance, self.config(instance)

    @staticmethod
    def verify_subscription(config: WabaConfig, mode: str | None, token: str | None, challenge: str | None) -> str:
        """Meta's handshake: the challenge back when the mode is `subscribe` and the token is ours."""
        if (
            mode != "subscribe"
            or challenge is None
            or token is None
            or not hmac.compare_digest(token.encode(), config.verify_token.encode())
        ):
            raise VerifyTokenMismatch("Wrong `hub.mode` or `hub.verify_token`.")
        return challenge

    @staticmethod
    def verify_signature(config: WabaConfig, body: bytes, header: str | None) -> None:
        """HMAC-SHA256 of the raw body with the app secret, compared in constant time."""
        expected = hmac.new(config.app_secret.encode(), body, hashlib.sha256).hexdigest()
        given = (header or "").strip()
        if not given.startswith("sha256=") or not hmac.compare_digest(given[7:].lower().encode(), expected.encode()):
            raise SignatureInvalid("Signed with another app secret, or the body was changed on the way.")

    async def receive(self, session: AsyncSession, instance: Instance, config: WabaConfig, body: bytes) -> int:
        """Record the events of one verified webhook POST; how many were new."""
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            raise PayloadInvalid("Not JSON.") from None
        if not isinstance(payload, dict):
            raise PayloadInvalid("Not a JSON object.")
        events = []
        for found in inbound.events_of(payload, config.phone_number_id):
            data = found.data
            if found.type == "message.status":
                ours = await message_service.id_of_provider_message(
                    session, instance.id, str(data["provider_message_id"])
                )
                data = {"id": ours, **data}
            events.append(WorkerEvent(id=found.id, type=found.type, timestamp=found.timestamp, data=data))
        if not events:
            return 0
        result = await event_service.ingest_and_commit(session, _caller(instance), events, self._policy)
        if result.accepted:
            self._wake(instance)
        return result.accepted


def _caller(instance: Instance) -> WorkerCaller:
    # Events of a waba instance are recorded as a worker's would be; epoch 0, as it never has a worker.
    return WorkerCaller(
        instance_id=instance.id, tenant_id=instance.tenant_id, phone=instance.phone_number, epoch=instance.epoch
    )
