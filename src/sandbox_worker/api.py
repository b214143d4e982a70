"""The gateway → worker endpoints (docs/worker-protocol.md §4): auth, parsing, and the shape of answers."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from typing import Protocol

from sandbox_worker import PROTOCOL, PROVIDER, PROVIDER_VERSION
from sandbox_worker.config import Config
from sandbox_worker.gateway import EpochSuperseded
from sandbox_worker.http_server import Request, Response
from sandbox_worker.media import MediaStore
from sandbox_worker.problems import Problem, engine_unavailable, invalid_request
from sandbox_worker.sends import PRESENCE_STATES, is_phone, is_recipient, require_object, validate_send
from sandbox_worker.session import SandboxSession

MAX_CONTACT_CHECKS = 50
MAX_READ_IDS = 1000

Endpoint = Callable[[Request], Awaitable[Response]]


class WorkerControl(Protocol):
    """What the endpoints need from the worker beyond the session."""

    started_at: str

    @property
    def spooled_events(self) -> int: ...

    def request_shutdown(self, reason: str) -> None: ...


class Api:
    def __init__(self, config: Config, session: SandboxSession, media: MediaStore, worker: WorkerControl) -> None:
        self._config = config
        self._session = session
        self._media = media
        self._worker = worker
        self._token = f"Bearer {config.token}".encode()
        self._routes: dict[tuple[str, str], Endpoint] = {
            ("GET", "/v1/status"): self.status,
            ("GET", "/v1/qr"): self.qr,
            ("POST", "/v1/pair-code"): self.pair_code,
            ("POST", "/v1/messages"): self.send_message,
            ("POST", "/v1/read"): self.read,
            ("POST", "/v1/presence"): self.presence,
            ("POST", "/v1/contacts/check"): self.check_contacts,
            ("POST", "/v1/logout"): self.logout,
            ("POST", "/v1/shutdown"): self.shutdown,
        }
        self._paths = {path for _, path in self._routes} | {"/v1/health"}

    async def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if path == "/v1/health":
            if request.method not in ("GET", "HEAD"):
                return _method_not_allowed("GET")
            return Response.json(200, {"status": "ok"})
        if not hmac.compare_digest(request.headers.get("authorization", "").encode(), self._token):
            raise Problem(401, "unauthorized", "A valid `Authorization: Bearer` worker token is required.")
        endpoint = self._routes.get((request.method, path))
        if endpoint is not None:
            try:
                return await endpoint(request)
            except EpochSuperseded:
                # The worker is exiting with 75; the caller is a gateway that already knows why.
                raise engine_unavailable("A newer worker owns this instance.") from None
        if path.startswith("/v1/media/"):
            if request.method not in ("GET", "HEAD"):
                return _method_not_allowed("GET")
            return await self.media(path.removeprefix("/v1/media/"))
        if path in self._paths:
            allowed = ", ".join(sorted(method for method, known in self._routes if known == path))
            return _method_not_allowed(allowed)
        raise Problem(404, "not_found", f"No endpoint at {request.path}.")

    async def status(self, request: Request) -> Response:
        return Response.json(
            200,
            {
                "instance_id": self._config.instance_id,
                "epoch": self._config.epoch,
                "provider": PROVIDER,
                "provider_version": PROVIDER_VERSION,
                "protocol": PROTOCOL,
                "connection_state": self._session.state,
                "me": self._session.me,
                "spooled_events": self._worker.spooled_events,
                "started_at": self._worker.started_at,
            },
        )

    async def qr(self, request: Request) -> Response:
        return Response.json(200, self._session.current_qr())

    async def pair_code(self, request: Request) -> Response:
        body = require_object(request.json())
        phone = body.get("phone")
        if not is_phone(phone):
            raise invalid_request("`phone` must be a phone number: 6 to 15 digits.")
        assert isinstance(phone, str)
        return Response.json(200, await self._session.request_pair_code(phone))

    async def send_message(self, request: Request) -> Response:
        send = validate_send(request.json())
        return Response.json(202, await self._session.send(send))

    async def read(self, request: Request) -> Response:
        body = require_object(request.json())
        chat = body.get("chat")
        if not is_recipient(chat):
            raise Problem(422, "invalid_recipient", "`chat` must be a phone number or a WhatsApp JID.")
        assert isinstance(chat, str)
        ids = body.get("message_ids")
        if (
            not isinstance(ids, list)
            or not 1 <= len(ids) <= MAX_READ_IDS
            or not all(isinstance(i, str) and i for i in ids)
        ):
            raise invalid_request(f"`message_ids` must be a list of 1 to {MAX_READ_IDS} message ids.")
        sender = body.get("sender")
        if sender is not None and not isinstance(sender, str):
            raise invalid_request("`sender` must be a string.")
        await self._session.mark_read(chat, [str(i) for i in ids])
        return Response.empty()

    async def presence(self, request: Request) -> Response:
        body = require_object(request.json())
        state = body.get("state")
        if state not in PRESENCE_STATES:
            raise invalid_request(f"`state` must be one of {', '.join(PRESENCE_STATES)}.")
        assert isinstance(state, str)
        chat = body.get("chat")
        # Available/unavailable is the account's own presence; the others are about one chat.
        if chat is None and state in ("available", "unavailable"):
            pass
        elif not is_recipient(chat):
            raise Problem(422, "invalid_recipient", "`chat` must be a phone number or a WhatsApp JID.")
        await self._session.send_presence(chat if isinstance(chat, str) else None, state)
        return Response.empty()

    async def check_contacts(self, request: Request) -> Response:
        body = require_object(request.json())
        phones = body.get("phones")
        if not isinstance(phones, list) or not all(isinstance(p, str) for p in phones):
            raise invalid_request("`phones` must be a list of phone numbers.")
        if len(phones) > MAX_CONTACT_CHECKS:
            raise invalid_request(f"At most {MAX_CONTACT_CHECKS} phones per check.")
        if not phones:
            return Response.json(200, {"results": []})
        return Response.json(200, await self._session.check_contacts([str(p) for p in phones]))

    async def media(self, media_id: str) -> Response:
        stored = self._media.find(media_id)
        if stored is None:
            raise Problem(404, "media_not_found", f"No media {media_id!r}.")
        try:
            data = await asyncio.to_thread(stored.path.read_bytes)
        except OSError:
            raise Problem(404, "media_not_found", f"No media {media_id!r}.") from None
        return Response(200, data, stored.mimetype)

    async def logout(self, request: Request) -> Response:
        await self._session.logout()
        return Response.empty()

    async def shutdown(self, request: Request) -> Response:
        body = request.json(optional=True)
        reason = "requested"
        if body is not None:
            given = require_object(body).get("reason")
            if given is not None and not isinstance(given, str):
                raise invalid_request("`reason` must be a string.")
            reason = given or reason

        def stop() -> None:
            self._worker.request_shutdown(reason)

        return Response.json(202, {"status": "shutting_down"}, on_sent=stop)


def _method_not_allowed(allowed: str) -> Response:
    problem = Problem(405, "method_not_allowed", f"Allowed: {allowed}.")
    return Response.problem(problem, (("allow", allowed),))
