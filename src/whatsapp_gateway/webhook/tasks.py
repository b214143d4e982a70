"""The webhook dispatcher: sends the outbox's deliveries, retries them, dead-letters them; and retention pruning.

Work is organised in queues, one per endpoint and instance. A queue is sent strictly in order, by one sender at a
time; different queues are sent concurrently. A sender holds its queue through a lease in the database, so several
control-plane replicas share the queues safely and a crashed replica's queues are taken over when its leases run out.

A delivery is marked delivered after the receiver's 2xx, in small batches. A crash between the two (kill -9) makes
the last few deliveries go out again: receivers get every event at least once and de-duplicate on `webhook-id`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import email.utils
import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from whatsapp_gateway import __version__
from whatsapp_gateway.config import Settings
from whatsapp_gateway.crypto import SecretBox, SecretUnreadable
from whatsapp_gateway.db import utcnow
from whatsapp_gateway.event import service as event_service
from whatsapp_gateway.notify import Wakeups
from whatsapp_gateway.webhook import service as webhook_service
from whatsapp_gateway.webhook.client import DeliveryClient, DeliveryFailed, Origin
from whatsapp_gateway.webhook.models import DisabledReason, WebhookEndpoint, WebhookQueue
from whatsapp_gateway.webhook.repository import PendingDelivery, WebhookRepository
from whatsapp_gateway.webhook.service import RetryPolicy
from whatsapp_gateway.webhook.signing import signature_header
from whatsapp_gateway.webhook.targets import TargetNotAllowed, TargetResolver, TargetUnresolvable

log = structlog.get_logger(__name__)

USER_AGENT = f"WhatsApp-Gateway-Webhooks/{__version__}"
POLL_SECONDS = 1.0  # how often due retries and other replicas' new events are looked for
LEASE = dt.timedelta(seconds=60)
BATCH = 50  # deliveries read at once from the head of a queue
# Progress is written after this many sends or this long, whichever first: what a crash can make go out twice.
COMMIT_EVERY_SENDS = 20
COMMIT_EVERY_SECONDS = 0.25
JITTER = 0.2
PRUNE_EVERY_SECONDS = 3600.0
PRUNE_CHUNK = 2000
TARGET_REFRESH_SECONDS = 2.0


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    error: str | None = None
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def backoff(policy: RetryPolicy, failures: int, retry_after: float | None) -> float:
    """Seconds before the next attempt after `failures` failures in a row: the schedule, ±20%, or Retry-After if
    the receiver asked for longer."""
    delays = policy.delays
    delay = delays[min(failures, len(delays)) - 1] * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 - jitter
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.horizon.total_seconds()))
    return delay


def parse_retry_after(value: str | None, now: dt.datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # not "²": str.isdigit() says yes to it, float() does not
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


def envelope(delivery: PendingDelivery) -> bytes:
    """The body of a delivery: the event as the event list shows it, `{id, type, instance, timestamp, data}`.

    Built by hand rather than through the `Event` schema: this runs once per delivery, and the schema's validation
    would cost more than the rest of the preparation. `tests/webhook` checks the two agree.
    """
    return json.dumps(
        {
            "id": delivery.event_id,
            "type": delivery.type,
            "instance": delivery.instance_id,
            "timestamp": delivery.timestamp.isoformat().replace("+00:00", "Z"),
            "data": delivery.data,
        },
        separators=(",", ":"),
    ).encode()


@dataclass
class _Target:
    url: str
    secrets: list[str]
    headers: Mapping[str, str]
    failing: bool  # the endpoint has `failing_since` set, to be cleared by the next success
    loaded_at: float = field(default_factory=time.monotonic)


class Sender:
    """Makes one signed POST of one event to one endpoint, and says what happened. Never raises for the receiver."""

    def __init__(self, client: DeliveryClient, resolver: TargetResolver, *, timeout: float) -> None:
        self._client = client
        self._resolver = resolver
        self._timeout = timeout

    async def send(
        self, url: str, secrets: list[str], custom_headers: Mapping[str, str], delivery: PendingDelivery
    ) -> Outcome:
        body = envelope(delivery)
        timestamp = int(time.time())
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        headers = [
            ("host", parts.netloc.rpartition("@")[2]),
            *custom_headers.items(),
            ("content-type", "application/json"),
            ("user-agent", USER_AGENT),
            ("webhook-id", delivery.event_id),
            ("webhook-timestamp", str(timestamp)),
            ("webhook-signature", signature_header(secrets, delivery.event_id, timestamp, body)),
        ]
        if parts.username is not None:  # credentials in the URL, as browsers and httpx take them
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            headers.append(("authorization", "Basic " + base64.b64encode(credentials).decode()))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        started = time.perf_counter()
        try:
            # Connect to the address the SSRF guard checked, not to whatever a second lookup would answer.
            address = await self._resolver.resolve(host, port)
            origin = Origin(parts.scheme, str(address), port, host)
            answer = await self._client.post(origin, target, headers, body, timeout=self._timeout)
        except (TargetNotAllowed, TargetUnresolvable, DeliveryFailed) as exc:
            return Outcome(None, _ms_since(started), str(exc))
        latency = _ms_since(started)
        status_code = answer.status_code
        if 200 <= status_code < 300:
            return Outcome(status_code, latency)
        retry_after = None
        if status_code in (429, 503):
            retry_after = parse_retry_after(answer.headers.get("retry-after"), utcnow())
        kind = "redirect (not followed)" if 300 <= status_code < 400 else "answered"
        return Outcome(status_code, latency, f"{kind} HTTP {status_code}", retry_after)


def _ms_since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


class Dispatcher:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        wakeups: Wakeups,
        sender: Sender,
        box: SecretBox,
        policy: RetryPolicy,
        settings: Settings,
        *,
        holder: str,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._wakeups = wakeups
        self._sender = sender
        self._box = box
        self._policy = policy
        self._settings = settings
        self._holder = holder
        self._active: dict[int, asyncio.Task[None]] = {}
        self._wake = wakeups.listen(webhook_service.WAKE_KEY)
        self._next_prune = 0.0

    async def run(self) -> None:
        async with self._sessionmaker() as session:
            await WebhookRepository(session).release_all(self._holder)
            await session.commit()
        log.info("webhook_dispatcher_started", holder=self._holder, concurrency=self._settings.webhook_concurrency)
        try:
            while not self._wakeups.closing:
                self._wake.clear()
                try:
                    await self._start_due_queues()
                    if time.monotonic() >= self._next_prune:
                        self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                        await self.prune()
                except Exception:
                    log.exception("webhook_dispatch_round_failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
        finally:
            for task in self._active.values():
                task.cancel()
            await asyncio.gather(*self._active.values(), return_exceptions=True)
            self._wakeups.unlisten(webhook_service.WAKE_KEY, self._wake)

    async def _start_due_queues(self) -> None:
        free = self._settings.webhook_concurrency - len(self._active)
        if free <= 0:
            return
        now = utcnow()
        async with self._sessionmaker() as session:
            queues = await WebhookRepository(session).claim_due_queues(
                self._holder, now=now, lease_until=now + LEASE, limit=free, skip=list(self._active)
            )
            await session.commit()
        for queue in queues:
            task = asyncio.create_task(self._drain_safely(queue), name=f"webhook-queue-{queue.id}")
            self._active[queue.id] = task

    async def _drain_safely(self, queue: WebhookQueue) -> None:
        try:
            await self.drain(queue)
        except Exception:
            # The lease runs out and the queue is taken up again: nothing is lost, at worst sent twice.
            log.exception("webhook_queue_failed", queue=queue.id, endpoint=queue.endpoint_id)
        finally:
            self._active.pop(queue.id, None)
            self._wake.set()  # what arrived for this queue while it was held is looked for now

    async def drain(self, queue: WebhookQueue) -> None:
        """Send a leased queue's deliveries in order until it is empty, a send fails, or the lease is lost."""
        target: _Target | None = None
        while True:
            async with self._sessionmaker() as session:
                repository = WebhookRepository(session)
                if target is None or time.monotonic() - target.loaded_at > TARGET_REFRESH_SECONDS:
                    # An endpoint changed meanwhile (URL, secret, turned off) is seen within a few seconds.
                    target = await self._load_target(session, queue)
                    if target is None:
                        await repository.release_queue(queue.id, self._holder)
                        await session.commit()
                        return
                batch = await repository.head_of_queue(queue.endpoint_id, queue.queue_key, BATCH)
                if not batch:
                    await repository.release_empty_queue(queue.id, self._holder)
                    await session.commit()
                    return
            if not await self._send_batch(queue, target, batch):
                return

    async def _load_target(self, session: AsyncSession, queue: WebhookQueue) -> _Target | None:
        """Where and how to send this queue's deliveries; None when the endpoint is gone or must not be sent to."""
        endpoint = await WebhookRepository(session).get(queue.endpoint_id)
        if endpoint is None or not endpoint.enabled:
            return None
        try:
            secrets = webhook_service.open_secrets(self._box, endpoint, utcnow())
            headers = webhook_service.open_headers(self._box, endpoint)
        except SecretUnreadable as exc:
            # Sealed under another SECRET_KEY: sending unsigned is not an option. Rotating the secret (and setting
            # custom headers again) turns the endpoint back on.
            await self._disable(session, endpoint, DisabledReason.needs_secret, f"stored secret unreadable: {exc}")
            self._announce_disabled(endpoint)
            return None
        return _Target(endpoint.url, secrets, headers, failing=endpoint.failing_since is not None)

    async def _send_batch(self, queue: WebhookQueue, target: _Target, batch: Sequence[PendingDelivery]) -> bool:
        delivered: list[tuple[int, int, int]] = []
        started = time.monotonic()
        for index, delivery in enumerate(batch):
            outcome = await self._sender.send(target.url, target.secrets, target.headers, delivery)
            if not outcome.delivered:
                await self._record_failure(queue, delivered, delivery, outcome)
                return False
            assert outcome.status_code is not None
            delivered.append((delivery.id, outcome.status_code, outcome.latency_ms))
            last = index == len(batch) - 1
            if last or len(delivered) >= COMMIT_EVERY_SENDS or time.monotonic() - started >= COMMIT_EVERY_SECONDS:
                if not await self._record_success(queue, target, delivered):
                    return False
                delivered, started = [], time.monotonic()
        return True

    async def _record_success(
        self, queue: WebhookQueue, target: _Target, delivered: list[tuple[int, int, int]]
    ) -> bool:
        """Mark deliveries the receiver took; whether this replica still holds the queue (and may go on)."""
        async with self._sessionmaker() as session:
            repository = WebhookRepository(session)
            now = utcnow()
            done = await repository.mark_succeeded(delivered, now=now)
            if target.failing:
                await repository.clear_failing(queue.endpoint_id)
                target.failing = False
            holds = await repository.settle_queue(queue.id, self._holder, done=done, lease_until=now + LEASE)
            await session.commit()
        return holds

    async def _record_failure(
        self, queue: WebhookQueue, delivered: list[tuple[int, int, int]], delivery: PendingDelivery, outcome: Outcome
    ) -> None:
        """Mark what went out, then the failed attempt: back off the queue, dead-letter what is out of time, disable
        the endpoint if it is gone or has failed for too long. The queue's lease is given up."""
        disabled: WebhookEndpoint | None = None
        async with self._sessionmaker() as session:
            repository = WebhookRepository(session)
            now = utcnow()
            endpoint = await repository.get(queue.endpoint_id)
            if endpoint is None:  # deleted meanwhile, with its queues and deliveries
                return
            if endpoint.enabled:
                failing_since = endpoint.failing_since or now
                reason: DisabledReason | None = None
                if outcome.status_code == 410:
                    reason = DisabledReason.gone
                elif now - failing_since >= dt.timedelta(days=self._settings.webhook_disable_after_days):
                    reason = DisabledReason.failing
                endpoint.failing_since = failing_since
                if reason is not None:
                    # First, as ingestion does: the events stream's lock before the queue's row (no deadlock).
                    await self._disable(session, endpoint, reason, outcome.error)
                    disabled = endpoint
            done = await repository.mark_succeeded(delivered, now=now) if delivered else 0
            current = await repository.queue(queue.id)
            failures = (current.failures if current is not None else 0) + 1
            next_attempt_at = now + dt.timedelta(seconds=backoff(self._policy, failures, outcome.retry_after))
            await repository.mark_attempt_failed(
                delivery.id,
                now=now,
                status_code=outcome.status_code,
                error=outcome.error or "failed",
                latency_ms=outcome.latency_ms,
                next_attempt_at=next_attempt_at,
            )
            dead = 0
            if now >= delivery.deadline_at:
                dead = await repository.dead_letter_expired(
                    queue.endpoint_id,
                    queue.queue_key,
                    now=now,
                    reason=f"not delivered within the retry period; last attempt: {outcome.error}",
                )
            await repository.update_queue(
                queue.id,
                pending=WebhookQueue.pending - done - dead,
                failures=failures,
                next_attempt_at=now if dead else next_attempt_at,
                lease_holder=None,
                lease_until=None,
            )
            await session.commit()
        # Look again when the retry is due, rather than at the next poll after it.
        asyncio.get_running_loop().call_later(
            max(0.0, (next_attempt_at - utcnow()).total_seconds()) + 0.01, self._wake.set
        )
        if dead:
            log.warning("webhook_dead_lettered", endpoint=queue.endpoint_id, queue=queue.queue_key, count=dead)
        if disabled is not None:
            self._announce_disabled(disabled)

    async def _disable(
        self, session: AsyncSession, endpoint: WebhookEndpoint, reason: DisabledReason, last_error: str | None
    ) -> None:
        """Disable the endpoint and tell its tenant, with a `webhook.endpoint_disabled` event (same transaction)."""
        webhook_service.disable(endpoint, reason)
        await event_service.record(
            session,
            self._policy,
            tenant_id=endpoint.tenant_id,
            instance_id=None,
            type="webhook.endpoint_disabled",
            data={
                "endpoint": endpoint.id,
                "url": endpoint.url,
                "reason": reason.value,
                "failing_since": endpoint.failing_since.isoformat() if endpoint.failing_since else None,
                "last_error": last_error,
            },
        )

    def _announce_disabled(self, endpoint: WebhookEndpoint) -> None:
        log.warning("webhook_endpoint_disabled", endpoint=endpoint.id, reason=endpoint.disabled_reason)
        self._wakeups.notify(event_service.wake_keys_of_event(endpoint.tenant_id, None))

    async def prune(self) -> None:
        """Delete events and finished deliveries past their retention, a chunk per transaction."""
        now = utcnow()
        totals = {"deliveries": 0, "events": 0}
        for kind, days in (
            ("deliveries", self._settings.delivery_retention_days),
            ("events", self._settings.event_retention_days),
        ):
            before = now - dt.timedelta(days=days)
            while True:
                async with self._sessionmaker() as session:
                    repository = WebhookRepository(session)
                    if kind == "deliveries":
                        count = await repository.prune_deliveries(before, PRUNE_CHUNK)
                    else:
                        count = await repository.prune_events(before, PRUNE_CHUNK)
                    await session.commit()
                totals[kind] += count
                if count < PRUNE_CHUNK:
                    break
                await asyncio.sleep(0)  # let requests in between chunks
        if any(totals.values()):
            log.info("retention_pruned", **totals)
