"""The linked device: its connection to the sandbox hub, login, and what it sends and receives.

One loop owns the connection: read the stored session, connect, then long-poll the hub for items, turning each into
events. An item is acknowledged (by the next poll's `after`) only once its events are in the spool, so a crash
re-delivers it and its derived event id de-duplicates it at the gateway.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import TypeVar

from sandbox_worker.backoff import Backoff
from sandbox_worker.config import Config
from sandbox_worker.events import EventSink
from sandbox_worker.gateway import EpochSuperseded, GatewayClient, GatewayUnavailable
from sandbox_worker.hub import HubClient, HubRefused
from sandbox_worker.ids import hub_event_id, parse_timestamp
from sandbox_worker.log import Logger
from sandbox_worker.media import MediaStore
from sandbox_worker.problems import Problem, engine_unavailable, not_connected
from sandbox_worker.sends import Send, SentLog, load_media

SESSION_KEY = "session"
PAIR_CODE_SECONDS = 180.0
_LOGIN_STATES = ("qr", "pairing")
# Message fields copied from a hub item into `message.received`, as protocol §6 lists them.
_MESSAGE_FIELDS = ("chat", "from", "type", "timestamp", "text", "location", "contact", "reaction", "reply_to")

T = TypeVar("T")


class _After(Enum):
    """What the poll loop does after an item."""

    CONTINUE = "continue"
    RECONNECT = "reconnect"
    STOP = "stop"


class SandboxSession:
    def __init__(
        self,
        config: Config,
        gateway: GatewayClient,
        hub: HubClient,
        sink: EventSink,
        media: MediaStore,
        sent: SentLog,
        log: Logger,
    ) -> None:
        self._config = config
        self._gateway = gateway
        self._hub = hub
        self._sink = sink
        self._media = media
        self._sent = sent
        self._log = log
        self.state = "starting"
        self.me: dict[str, object] | None = None
        self._session: dict[str, object] | None = None
        self._session_loaded = False
        self._qr: dict[str, object] | None = None
        self._pair_code_expires_at = 0.0
        # Highest hub seq whose events are spooled; the next poll passes it as `after`, which acknowledges it.
        self._acked_seq = 0
        self._reconnect_backoff = Backoff(1.0, 30.0)
        self._run_task: asyncio.Task[None] | None = None
        self._qr_task: asyncio.Task[None] | None = None
        self._send_locks: dict[str, asyncio.Lock] = {}

    # Lifecycle

    def start(self) -> None:
        self._run_task = asyncio.create_task(self._run(), name="hub-session")

    async def stop(self, reason: str) -> None:
        """Disconnect without logging out (shutdown): the stored session stays valid for the next worker."""
        await self._cancel_tasks()
        if self.state not in ("logged_out", "failed", "disconnected"):
            self._set_state("disconnected", reason)

    async def abort(self) -> None:
        """Stop at once, reporting nothing (superseded)."""
        await self._cancel_tasks()

    async def _cancel_tasks(self) -> None:
        tasks = [t for t in (self._run_task, self._qr_task) if t is not None and t is not asyncio.current_task()]
        self._run_task = self._qr_task = None
        for task in tasks:
            task.cancel()
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, Exception):
                self._log.error("session task failed while stopping", error=repr(outcome))

    # State

    def _set_state(self, state: str, reason: str | None = None) -> None:
        if state == self.state:
            return
        previous, self.state = self.state, state
        leaving_login = state not in _LOGIN_STATES
        if leaving_login and self._qr_task is not None and self._qr_task is not asyncio.current_task():
            self._qr_task.cancel()
            self._qr_task = None
        if state != "qr":
            self._qr = None
        data: dict[str, object] = {"connection_state": state}
        if reason:
            data["reason"] = reason
        self._sink.emit("instance.status", data)
        self._log.info("connection state", state=state, previous=previous, reason=reason)

    # The connection loop

    async def _run(self) -> None:
        try:
            while True:
                self._set_state("connecting")
                try:
                    up = await self._connect()
                except GatewayUnavailable as exc:
                    # The reason reaches customers' webhooks: say what happened, keep internal addresses in the log.
                    self._log.warning("cannot connect to the sandbox hub", error=str(exc))
                    self._set_state("disconnected", "cannot reach the sandbox network")
                    await asyncio.sleep(self._reconnect_backoff.next())
                    continue
                except HubRefused as exc:
                    self._log.error("hub refused to connect", status=exc.status, code=exc.code, detail=exc.detail)
                    self._set_state("failed", f"the sandbox network refused the connection ({exc.code})")
                    return
                if not up or await self._poll_until_broken() is _After.STOP:
                    return
                await asyncio.sleep(self._reconnect_backoff.next())
        except EpochSuperseded:
            return
        except Exception as exc:
            # A bug must not leave the worker looking healthy: report it and stay up for status and logs.
            self._log.error("hub session crashed", error=repr(exc))
            self._set_state("failed", "internal error in the worker")

    async def _connect(self) -> bool:
        """Connect once. True when the hub now serves this device (connected, or waiting for a login)."""
        if not self._session_loaded:
            values = await self._gateway.state({"get": [SESSION_KEY]})
            self._session = self._parse_session(values.get(SESSION_KEY))
            self._session_loaded = True
        answer = await self._hub.connect(self._session)
        status = answer.get("status")
        if status == "connected":
            self._connected(_person(answer.get("me")), event_id=None)
            return True
        if status == "unpaired":
            # Fetch the first QR before entering `qr`, so `GET /v1/qr` has one as soon as the state says so.
            qr = await self._hub.qr()
            self._show_qr(qr)
            self._qr_task = asyncio.create_task(self._rotate_qr(), name="qr-rotation")
            return True
        if status == "logged_out":
            reason = answer.get("reason")
            await self._forget_session(reason if isinstance(reason, str) else "logged_out", event_id=None)
            return False
        raise GatewayUnavailable(f"hub /connect answered an unknown status {status!r}")

    def _parse_session(self, raw: str | None) -> dict[str, object] | None:
        if raw is None:
            return None
        try:
            session = json.loads(raw)
        except ValueError:
            session = None
        if not isinstance(session, dict):
            self._log.warning("stored session is unreadable; starting a new login")
            return None
        return session

    def _connected(self, me: dict[str, object], *, event_id: str | None) -> None:
        self.me = me
        self._sink.emit("session.connected", {"me": me}, event_id=event_id)
        self._set_state("connected")

    async def _poll_until_broken(self) -> _After:
        while True:
            try:
                items = await self._hub.poll(self._acked_seq)
            except (GatewayUnavailable, HubRefused) as exc:
                self._log.warning("lost the sandbox hub", error=str(exc))
                self._lost("connection to the sandbox network lost")
                return _After.RECONNECT
            self._reconnect_backoff.reset()
            for item in sorted(items, key=_seq_of):
                seq = _seq_of(item)
                if seq <= self._acked_seq:
                    continue
                after = await self._handle(item, seq)
                self._acked_seq = seq
                if after is _After.STOP:
                    await self._acknowledge_now()
                    return after
                if after is _After.RECONNECT:
                    return after

    def _lost(self, reason: str) -> None:
        if self.state == "connected":
            self._sink.emit("session.disconnected", {"reason": reason, "will_retry": True})
        self._set_state("disconnected", reason)

    async def _acknowledge_now(self) -> None:
        # The loop is about to stop polling; without this the last item would come back to the next worker.
        try:
            await self._hub.poll(self._acked_seq, wait=0)
        except (GatewayUnavailable, HubRefused) as exc:
            self._log.warning("could not acknowledge the last hub item", seq=self._acked_seq, error=str(exc))

    # Hub items

    async def _handle(self, item: dict[str, object], seq: int) -> _After:
        kind = item.get("kind")
        event_id = hub_event_id(self._config.instance_id, seq)
        self._log.debug("hub item", seq=seq, kind=kind)
        if kind == "paired":
            session = item.get("session")
            if not isinstance(session, dict):
                self._log.error("paired item without a session", seq=seq)
                return _After.CONTINUE
            # Stored before session.connected is reported: a crash right after must not lose the login.
            await self._until_done("store the session", lambda: self._store_session(session))
            self._session, self._session_loaded = session, True
            self._connected(_person(item.get("me")), event_id=event_id)
        elif kind == "message":
            message = item.get("message")
            if not isinstance(message, dict):
                self._log.error("message item without a message", seq=seq)
                return _After.CONTINUE
            event_type, data = await self._message_event(message)
            self._sink.emit(event_type, data, event_id=event_id)
        elif kind == "receipt":
            self._sink.emit(
                "message.status",
                {
                    "id": item.get("id"),
                    "provider_message_id": item.get("provider_message_id"),
                    "status": item.get("status"),
                    "recipient": item.get("recipient"),
                },
                event_id=event_id,
            )
        elif kind == "presence":
            self._sink.emit(
                "presence.update",
                {"chat": item.get("chat"), "from": item.get("from"), "state": item.get("state")},
                event_id=event_id,
            )
        elif kind == "unlinked":
            await self._forget_session(_reason(item, "unlinked"), event_id=event_id)
            return _After.STOP
        elif kind == "drop":
            reason = _reason(item, "connection dropped")
            self._sink.emit("session.disconnected", {"reason": reason, "will_retry": True}, event_id=event_id)
            self._set_state("disconnected", reason)
            return _After.RECONNECT
        else:
            self._log.warning("unknown hub item, skipped", seq=seq, kind=kind)
        return _After.CONTINUE

    async def _message_event(self, message: dict[str, object]) -> tuple[str, dict[str, object]]:
        common: dict[str, object] = {"id": message.get("provider_message_id")}
        if message.get("type") == "reaction":
            reaction = message.get("reaction")
            reaction = reaction if isinstance(reaction, dict) else {}
            data = {
                **common,
                "message_id": reaction.get("message_id"),
                "chat": message.get("chat"),
                "from": message.get("from"),
                "emoji": reaction.get("emoji"),
                "timestamp": message.get("timestamp"),
                "is_group": bool(message.get("is_group", False)),
            }
            return "message.reaction", data
        data = dict(common)
        for key in _MESSAGE_FIELDS:
            if key in message and message[key] is not None:
                data[key] = message[key]
        media = message.get("media")
        if isinstance(media, dict):
            try:
                data["media"] = await self._until_done("save inbound media", lambda: self._media.save(media))
            except ValueError as exc:
                self._log.error("inbound media unreadable, reported without it", error=str(exc))
        data["is_group"] = bool(message.get("is_group", False))
        return "message.received", data

    async def _store_session(self, session: dict[str, object]) -> None:
        await self._gateway.state({"put": {SESSION_KEY: json.dumps(session)}})

    async def _forget_session(self, reason: str, *, event_id: str | None) -> None:
        await self._until_done("clear the stored session", lambda: self._gateway.state({"clear": True}))
        self._session, self._session_loaded, self.me = None, True, None
        self._sink.emit("session.logged_out", {"reason": reason}, event_id=event_id)
        self._set_state("logged_out", reason)

    async def _until_done(self, what: str, step: Callable[[], Awaitable[T]]) -> T:
        """Retry a step the item cannot be acknowledged without, until it works (or the worker stops)."""
        backoff = Backoff(1.0, 30.0)
        while True:
            try:
                return await step()
            except (GatewayUnavailable, OSError) as exc:
                delay = backoff.next()
                self._log.warning(f"could not {what}, will retry", error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)

    # Login

    def _show_qr(self, answer: dict[str, object]) -> None:
        qr, expires_at = answer.get("qr"), answer.get("expires_at")
        if not isinstance(qr, str):
            raise GatewayUnavailable("hub /qr answered without a qr")
        self._set_state("qr")
        self._qr = {"qr": qr, "expires_at": expires_at}
        self._sink.emit("session.qr", {"qr": qr, "expires_at": expires_at})

    async def _rotate_qr(self) -> None:
        while self.state in _LOGIN_STATES:
            if self.state == "pairing":
                # A pair code is being typed: no QR until it expires, then back to QRs.
                await asyncio.sleep(max(0.05, self._pair_code_expires_at - time.time()))
                if self.state != "pairing" or time.time() < self._pair_code_expires_at:
                    continue
            else:
                await asyncio.sleep(self._config.qr_interval_seconds)
                if self.state != "qr":
                    continue
            try:
                answer = await self._hub.qr()
                if self.state in _LOGIN_STATES:
                    self._show_qr(answer)
            except (GatewayUnavailable, HubRefused) as exc:
                self._log.warning("could not rotate the QR", error=str(exc))
            except EpochSuperseded:
                return

    def current_qr(self) -> dict[str, object]:
        if self.state == "connected":
            raise Problem(409, "already_connected", "The device is already linked.")
        if self.state != "qr" or self._qr is None:
            raise Problem(404, "qr_unavailable", f"No QR code in state {self.state!r}.")
        return self._qr

    async def request_pair_code(self, phone: str) -> dict[str, object]:
        if self.state == "connected":
            raise Problem(409, "already_connected", "The device is already linked.")
        if self.state not in _LOGIN_STATES:
            raise engine_unavailable(f"Not waiting for a login (state {self.state!r}); retry later.")
        answer = await self._hub_call(self._hub.pair_code(phone))
        if self.state == "connected":
            raise Problem(409, "already_connected", "The device is already linked.")
        code, expires_at = answer.get("code"), answer.get("expires_at")
        if not isinstance(code, str):
            raise engine_unavailable("The hub answered without a pair code.")
        self._pair_code_expires_at = parse_timestamp(expires_at) or time.time() + PAIR_CODE_SECONDS
        self._set_state("pairing")
        self._sink.emit("session.pair_code", {"code": code, "expires_at": expires_at})
        return {"code": code, "expires_at": expires_at}

    async def logout(self) -> None:
        if self.state == "logged_out":
            return
        # Stop polling first, so an `unlinked` item caused by our own logout cannot report it a second time.
        await self._cancel_tasks()
        try:
            await self._hub.logout()
        except HubRefused as exc:
            if exc.code != "not_connected":
                self.start()
                raise Problem(exc.status, exc.code, exc.detail) from None
        except GatewayUnavailable as exc:
            self.start()
            raise engine_unavailable(f"The hub cannot be reached: {exc}") from None
        try:
            await self._gateway.state({"clear": True})
        except GatewayUnavailable as exc:
            # The hub has unlinked the device, so the stored session is dead anyway: a later connect with it is
            # answered `logged_out`, and that path clears it again.
            self._log.error("could not clear the stored session after logout", error=str(exc))
        self._session, self._session_loaded, self.me = None, True, None
        self._sink.emit("session.logged_out", {"reason": "logout"})
        self._set_state("logged_out", "logout")

    # Gateway requests that need the device

    def _require_connected(self) -> None:
        if self.state != "connected":
            raise not_connected()

    async def _hub_call(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except HubRefused as exc:
            raise Problem(exc.status, exc.code, exc.detail) from None
        except GatewayUnavailable as exc:
            raise engine_unavailable(f"The hub cannot be reached: {exc}") from None
        except EpochSuperseded:
            raise engine_unavailable("A newer worker owns this instance.") from None

    async def send(self, send: Send) -> dict[str, object]:
        lock = self._send_locks.setdefault(send.id, asyncio.Lock())
        try:
            # Concurrent requests with one id wait for the first, then get its result.
            async with lock:
                done = self._sent.get(send.id)
                if done is not None:
                    return done
                result = await self._send_once(send)
                self._sent.put(send.id, result)
                return result
        finally:
            if not lock.locked():
                self._send_locks.pop(send.id, None)

    async def _send_once(self, send: Send) -> dict[str, object]:
        self._require_connected()
        message = dict(send.message)
        if send.media is not None:
            message["media"] = await load_media(send.media)
            self._require_connected()
        answer = await self._hub_call(self._hub.send(message))
        provider_message_id = answer.get("provider_message_id")
        if not isinstance(provider_message_id, str):
            raise engine_unavailable("The hub answered without a provider_message_id.")
        status = answer.get("status")
        return {
            "id": send.id,
            "provider_message_id": provider_message_id,
            "status": status if status in ("sent", "queued") else "sent",
        }

    async def mark_read(self, chat: str, message_ids: list[str]) -> None:
        self._require_connected()
        await self._hub_call(self._hub.read(chat, message_ids))

    async def send_presence(self, chat: str | None, state: str) -> None:
        self._require_connected()
        await self._hub_call(self._hub.presence(chat, state))

    async def check_contacts(self, phones: list[str]) -> dict[str, object]:
        self._require_connected()
        answer = await self._hub_call(self._hub.check_contacts(phones))
        results = answer.get("results")
        return {"results": results if isinstance(results, list) else []}


def _seq_of(item: dict[str, object]) -> int:
    seq = item.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else -1


def _reason(item: dict[str, object], default: str) -> str:
    reason = item.get("reason")
    return reason if isinstance(reason, str) and reason else default


def _person(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}
