"""Emitting events: into the spool first, then to the gateway in batches (docs/worker-protocol.md §6)."""

from __future__ import annotations

import asyncio

from sandbox_worker.backoff import Backoff
from sandbox_worker.gateway import EpochSuperseded, GatewayClient, GatewayUnavailable
from sandbox_worker.ids import new_event_id, utc_now
from sandbox_worker.log import Logger
from sandbox_worker.spool import Spool

MAX_BATCH_EVENTS = 500


class EventSink:
    def __init__(self, spool: Spool, gateway: GatewayClient, log: Logger) -> None:
        self._spool = spool
        self._gateway = gateway
        self._log = log
        self._wake = asyncio.Event()
        # Set after each delivered batch, and when delivery stops for good: what `flush` waits on.
        self._progress = asyncio.Event()

    @property
    def spooled(self) -> int:
        return len(self._spool)

    def emit(self, event_type: str, data: dict[str, object], *, event_id: str | None = None) -> None:
        """Spool one event (fsync'ed when this returns) and wake the delivery loop.

        Synchronous on purpose: whoever emits knows the event is durable before its next step (acknowledging a hub
        item, answering a request), and events keep the order in which they were emitted.
        """
        if self._gateway.superseded:
            # The newer worker may share this DATA_DIR and would deliver our stale news as its own.
            self._log.debug("event dropped: superseded", type=event_type)
            return
        event: dict[str, object] = {
            "id": event_id or new_event_id(),
            "type": event_type,
            "timestamp": utc_now(),
            "data": data,
        }
        self._spool.append([event])
        self._log.debug("event spooled", event_id=event["id"], type=event_type)
        self._wake.set()

    async def run(self) -> None:
        """Deliver spooled events, oldest first, until cancelled or superseded."""
        try:
            await self._deliver_until_superseded()
        finally:
            self._progress.set()

    async def _deliver_until_superseded(self) -> None:
        backoff = Backoff(0.2, 5.0)
        while not self._gateway.superseded:
            try:
                delivered = await self._deliver_once()
            except EpochSuperseded:
                return
            except Exception as exc:
                # A full disk or a bug: keep the events and keep trying rather than lose the loop.
                self._log.error("events: delivery failed", error=repr(exc))
                delivered = False
            if delivered:
                backoff.reset()
            else:
                await asyncio.sleep(backoff.next())

    async def _deliver_once(self) -> bool:
        """Deliver one batch, or wait for events. False when the gateway did not take the batch."""
        self._wake.clear()
        batch = self._spool.peek(MAX_BATCH_EVENTS)
        if not batch.events:
            if batch.skipped:
                self._spool.ack(batch)
            else:
                await self._wake.wait()
            return True
        try:
            answer = await self._gateway.post_events(batch.events)
        except GatewayUnavailable as exc:
            self._log.warning("events: gateway unreachable, will retry", error=str(exc), spooled=len(self._spool))
            return False
        if answer.status == 200:
            self._spool.ack(batch)
            self._progress.set()
            self._log.debug("events delivered", count=len(batch.events), spooled=len(self._spool))
            return True
        # Never drop events: a 401 is a gateway that does not know this epoch yet (or a misconfiguration an operator
        # fixes), and any other refusal is retried too, loudly.
        level = self._log.warning if answer.status == 401 or answer.status >= 500 else self._log.error
        level(
            "events: gateway refused the batch, will retry",
            status=answer.status,
            code=answer.code,
            detail=answer.detail,
            spooled=len(self._spool),
        )
        return False

    async def flush(self, time_limit: float) -> bool:
        """Wait until every spooled event is delivered, at most `time_limit` seconds; True when the spool is empty."""
        try:
            async with asyncio.timeout(time_limit):
                while len(self._spool) and not self._gateway.superseded:
                    self._progress.clear()
                    await self._progress.wait()
        except TimeoutError:
            pass
        return len(self._spool) == 0
