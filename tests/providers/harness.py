"""The provider conformance harness: the providers under test, a fake control plane, and worker processes.

Everything here is provider-neutral and speaks only worker protocol v1 (docs/worker-protocol.md): a worker is an
executable started with the protocol's environment, the control plane is a real HTTP server on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTOCOL_VERSION = 1
EXIT_EPOCH_SUPERSEDED = 75

CONNECTION_STATES = frozenset(
    {"starting", "qr", "pairing", "connecting", "connected", "disconnected", "logged_out", "banned", "failed"}
)
MESSAGE_TYPES = ("text", "image", "video", "audio", "document", "sticker", "location", "contact", "reaction", "poll")
MAX_EVENTS_PER_BATCH = 500
MAX_STATE_VALUE = 1024 * 1024
MAX_STATE_BATCH = 8 * 1024 * 1024
SNAPSHOT_GENERATIONS_KEPT = 3

T = TypeVar("T")

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: str) -> str:
    """A prefixed id shaped like the control plane's (`ins_…`, `msg_…`); random, which is all tests need."""
    return prefix + "_" + "".join(secrets.choice(_CROCKFORD) for _ in range(26))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse_timestamp(value: object) -> dt.datetime | None:
    """An RFC 3339 timestamp (with an offset or `Z`), or None when `value` is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


# ---------------------------------------------------------------------------------------------------------------------
# Providers under test


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    # The worker's command line; relative paths are resolved against the repository root.
    command: Callable[[], list[str]]
    # Why the worker cannot run here (not built, no runtime installed), or None when it can.
    unavailable: Callable[[], str | None]
    # PROVIDER_CONFIG for tests: small intervals where the provider has them.
    config: dict[str, Any] = field(default_factory=dict)
    message_types: frozenset[str] = frozenset(MESSAGE_TYPES)
    pair_code: bool = True
    # The fencing test needs the worker to call the gateway after the epoch moved on. Workers that call it on their
    # own while offline (the sandbox retries its hub) need nothing; others name here a call that makes them do so.
    provoke_gateway_call: Callable[[WorkerProcess], Awaitable[None]] | None = None
    # The online part needs someone to play the phone (scan the QR, write to the number). Only the sandbox has one
    # here; real engines need WhatsApp's servers and a real phone, which this host reaches neither of.
    online_unavailable: str | None = "needs WhatsApp's servers and a real phone; this host reaches neither"

    def unavailable_reason(self) -> str | None:
        return self.unavailable()


def _always_available() -> str | None:
    return None


def _executable_missing(path: Path, what: str) -> Callable[[], str | None]:
    def check() -> str | None:
        if not os.access(path, os.X_OK):
            return f"{what} not built ({path.relative_to(REPO_ROOT)} is missing)"
        return None

    return check


def _node_script_missing(path: Path, what: str) -> Callable[[], str | None]:
    def check() -> str | None:
        if shutil.which("node") is None:
            return f"{what}: node is not installed"
        if not path.is_file():
            return f"{what} not built ({path.relative_to(REPO_ROOT)} is missing)"
        return None

    return check


async def _logout(worker: WorkerProcess) -> None:
    """A worker that stays quiet while WhatsApp is unreachable: a logout wipes the state store, a gateway call."""
    with contextlib.suppress(httpx.TransportError):
        await worker.http.post("/v1/logout")


_WHATSMEOW_BIN = REPO_ROOT / "providers/whatsmeow/bin/whatsmeow-worker"
_BAILEYS_JS = REPO_ROOT / "providers/baileys/dist/main.js"
_WAWEBJS_JS = REPO_ROOT / "providers/wawebjs/dist/main.js"

PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        name="sandbox",
        command=lambda: [sys.executable, "-m", "sandbox_worker"],
        unavailable=_always_available,
        config={"qr_interval_seconds": 2},
        message_types=frozenset(MESSAGE_TYPES) - {"poll"},  # docs/providers/sandbox.md, "Capabilities"
        online_unavailable=None,  # the gateway's sandbox API plays the phone
    ),
    # The entries below describe workers that do not exist yet; capabilities are to be confirmed when they land.
    ProviderSpec(
        name="whatsmeow",
        command=lambda: [str(_WHATSMEOW_BIN)],
        unavailable=_executable_missing(_WHATSMEOW_BIN, "Go worker binary"),
        config={
            "reconnect_min_seconds": 0.2,
            "reconnect_max_seconds": 2,
            "snapshot_debounce_seconds": 1,
            "version_check_timeout_seconds": 2,
        },
        message_types=frozenset(MESSAGE_TYPES),  # docs/providers/whatsmeow.md, "Capabilities"
        pair_code=True,
        provoke_gateway_call=_logout,
    ),
    ProviderSpec(
        name="baileys",
        command=lambda: ["node", str(_BAILEYS_JS)],
        unavailable=_node_script_missing(_BAILEYS_JS, "Baileys worker"),
        # Short reconnect backoff: offline, every attempt is a connecting → disconnected pair of instance.status
        # events, which is also the call the fencing test waits for.
        config={"reconnect_initial_seconds": 0.5, "reconnect_max_seconds": 2, "connect_timeout_seconds": 5},
        message_types=frozenset(MESSAGE_TYPES),  # docs/providers/baileys.md, "Capabilities"
        pair_code=True,
    ),
    ProviderSpec(
        name="wawebjs",
        command=lambda: ["node", str(_WAWEBJS_JS)],
        unavailable=_node_script_missing(_WAWEBJS_JS, "whatsapp-web.js worker"),
        # Short retries, so the fencing test sees the worker's next call soon; Chromium really launches every attempt.
        config={"retry_initial_seconds": 1, "retry_max_seconds": 5, "connect_timeout_seconds": 30},
        message_types=frozenset(MESSAGE_TYPES),  # docs/providers/wawebjs.md, "Capabilities"
        pair_code=True,
    ),
)


def selected_providers() -> list[ProviderSpec]:
    """`WAGW_PROVIDERS=sandbox,whatsmeow` narrows the run; by default every provider (unavailable ones skip)."""
    chosen = {name.strip() for name in os.environ.get("WAGW_PROVIDERS", "").split(",") if name.strip()}
    unknown = chosen - {p.name for p in PROVIDERS}
    if unknown:
        raise ValueError(f"WAGW_PROVIDERS names unknown providers: {sorted(unknown)}")
    return [p for p in PROVIDERS if not chosen or p.name in chosen]


# ---------------------------------------------------------------------------------------------------------------------
# The fake control plane


def problem(status: int, code: str, detail: str = "") -> JSONResponse:
    body = {"type": f"urn:whatsapp-gateway:problem:{code}", "title": code, "status": status, "code": code}
    if detail:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


@dataclass
class RecordedCall:
    seq: int
    method: str
    path: str
    kind: str  # "events", "state", "snapshot", "other"
    epoch: str | None
    status: int = 0
    # For state calls: whether the call read the store (a KV `get`, a prefix listing, a snapshot download).
    reads_state: bool = False
    body: Any = None


@dataclass
class ReceivedEvent:
    seq: int  # the gateway-wide order of the call that delivered it
    epoch: str | None  # X-Worker-Epoch of the worker that delivered it (not necessarily the one that made it)
    event: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.event["id"])

    @property
    def type(self) -> str:
        return str(self.event["type"])

    @property
    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.event["data"]
        return data


@dataclass
class Snapshot:
    generation: int
    content: bytes
    sha256: str


class _QuietServer(uvicorn.Server):
    # The fake gateway lives in the test's event loop; it must not take pytest's SIGINT/SIGTERM handlers.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class FakeGateway:
    """The worker → gateway half of the protocol, in memory, on a real loopback HTTP server.

    Knobs: `current_epoch` (older epochs get `409 epoch_superseded`), `down` (every call gets 503: the control plane
    is unreachable). Everything else under the instance's internal API (the sandbox hub, …) answers
    `503 network_unreachable`: in the offline suite, the WhatsApp side is never reachable.

    `violations` collects what a worker did against the protocol (a bad envelope, a missing header, …); the test
    fixtures fail a test that leaves any.
    """

    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id
        self.secret_key = secrets.token_bytes(32)
        self.current_epoch = 1
        self.down = False
        self.calls: list[RecordedCall] = []
        self.events: list[ReceivedEvent] = []  # accepted, in order of first acceptance
        self.attempted_events: list[dict[str, Any]] = []  # every event ever offered, in order of first offer
        self.kv: dict[str, str] = {}
        self.snapshots: dict[str, list[Snapshot]] = {}
        self.violations: list[str] = []
        self._event_by_id: dict[str, dict[str, Any]] = {}
        self._accepted_ids: set[str] = set()
        self._seq = 0
        self._reads_released = asyncio.Event()
        self._reads_released.set()
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.url = ""
        base = "/internal/v1/instances/{instance_id}"
        self.app = Starlette(
            routes=[
                Route(base + "/events", self._events, methods=["POST"]),
                Route(base + "/state", self._state, methods=["GET", "POST"]),
                Route(base + "/snapshots/{name}", self._snapshot, methods=["GET", "PUT"]),
                Route(base + "/{rest:path}", self._elsewhere, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            ]
        )

    # -- lifecycle ----------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=0,
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve())
        deadline = time.monotonic() + 10
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the fake gateway stopped during start-up")
            if time.monotonic() > deadline:
                raise RuntimeError("the fake gateway did not start")
            await asyncio.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self._reads_released.set()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task

    # -- what tests read -----------------------------------------------------------------------------------------------

    def hold_state_reads(self) -> None:
        """Calls that read the state store wait (unanswered) until `release_state_reads`."""
        self._reads_released.clear()

    def release_state_reads(self) -> None:
        self._reads_released.set()

    def token_for(self, epoch: int) -> str:
        """The worker token of `epoch`, derived as the control plane does (§2), so no token is stored."""
        message = f"worker-token:{self.instance_id}:{epoch}".encode()
        return hmac.new(self.secret_key, message, hashlib.sha256).hexdigest()

    def events_of_type(self, event_type: str) -> list[ReceivedEvent]:
        return [e for e in self.events if e.type == event_type]

    def connection_states(self) -> list[str]:
        return [str(e.data.get("connection_state")) for e in self.events_of_type("instance.status")]

    def state_reads(self) -> list[RecordedCall]:
        return [c for c in self.calls if c.reads_state and c.status == 200]

    def calls_of_epoch(self, epoch: int) -> list[RecordedCall]:
        return [c for c in self.calls if c.epoch == str(epoch)]

    # -- request handling ----------------------------------------------------------------------------------------------

    def _record(self, request: Request, kind: str) -> RecordedCall:
        self._seq += 1
        call = RecordedCall(self._seq, request.method, request.url.path, kind, request.headers.get("x-worker-epoch"))
        self.calls.append(call)
        return call

    def _violation(self, call: RecordedCall, what: str) -> None:
        self.violations.append(f"{call.method} {call.path} (epoch {call.epoch}): {what}")

    def _gate(self, request: Request, call: RecordedCall) -> Response | None:
        """Down, authentication and fencing, in the control plane's order; None lets the call through."""
        if self.down:
            return problem(503, "gateway_unavailable", "the control plane is down (test knob)")
        if request.path_params.get("instance_id") != self.instance_id:
            return problem(401, "unauthorized", "unknown instance")
        authorization = request.headers.get("authorization", "")
        if not authorization.startswith("Bearer "):
            self._violation(call, "no Authorization: Bearer header")
            return problem(401, "unauthorized", "missing bearer token")
        if call.epoch is None or not call.epoch.isdigit() or int(call.epoch) < 1:
            self._violation(call, f"X-Worker-Epoch missing or not a positive integer: {call.epoch!r}")
            return problem(401, "unauthorized", "missing X-Worker-Epoch")
        epoch = int(call.epoch)
        if epoch > self.current_epoch or not hmac.compare_digest(authorization[7:], self.token_for(epoch)):
            self._violation(call, "a token that is not this epoch's")
            return problem(401, "unauthorized", "unknown token")
        if epoch < self.current_epoch:
            return problem(409, "epoch_superseded", f"epoch {epoch} is superseded by {self.current_epoch}")
        return None

    @staticmethod
    async def _json(request: Request) -> Any:
        try:
            return json.loads(await request.body())
        except ValueError:
            return None

    async def _events(self, request: Request) -> Response:
        call = self._record(request, "events")
        body = await self._json(request)
        call.body = body
        # Recorded even when refused: what was offered while the gateway was down must arrive later.
        offered = body.get("events") if isinstance(body, dict) else None
        if isinstance(offered, list):
            for event in offered:
                if (
                    isinstance(event, dict)
                    and isinstance(event.get("id"), str)
                    and event["id"] not in self._event_by_id
                ):
                    self._event_by_id[event["id"]] = event
                    self.attempted_events.append(event)
        response = self._gate(request, call) or self._accept_events(call, offered)
        call.status = response.status_code
        return response

    def _accept_events(self, call: RecordedCall, offered: object) -> Response:
        if not isinstance(offered, list):
            self._violation(call, 'body is not {"events": [...]}')
            return problem(422, "validation_error", 'expected {"events": [...]}')
        if len(offered) > MAX_EVENTS_PER_BATCH:
            self._violation(call, f"a batch of {len(offered)} events (at most {MAX_EVENTS_PER_BATCH})")
            return problem(422, "validation_error", "too many events in one batch")
        for event in offered:
            problems = envelope_problems(event)
            if problems:
                self._violation(call, f"bad event {event!r}: {'; '.join(problems)}")
                return problem(422, "validation_error", "; ".join(problems))
        accepted = duplicates = 0
        for event in offered:
            first = self._event_by_id[event["id"]]
            if first is not event and (first.get("type"), first.get("data")) != (event.get("type"), event.get("data")):
                self._violation(call, f"event id {event['id']} reused for a different event")
            if event["id"] in self._accepted_ids:
                duplicates += 1
                continue
            self._accepted_ids.add(event["id"])
            self.events.append(ReceivedEvent(call.seq, call.epoch, event))
            accepted += 1
        return JSONResponse({"accepted": accepted, "duplicates": duplicates})

    async def _state(self, request: Request) -> Response:
        call = self._record(request, "state")
        if request.method == "GET":
            call.reads_state = True
            response = self._gate(request, call)
            if response is None:
                await self._reads_released.wait()
                prefix = request.query_params.get("prefix", "")
                # §7 does not give this answer's shape; {"keys": [...]} is this fake's reading of it.
                response = JSONResponse({"keys": sorted(k for k in self.kv if k.startswith(prefix))})
            call.status = response.status_code
            return response
        body = await self._json(request)
        call.body = body
        call.reads_state = isinstance(body, dict) and bool(body.get("get"))
        response = self._gate(request, call)
        if response is None:
            if call.reads_state:
                await self._reads_released.wait()
            response = self._apply_state(call, body)
        call.status = response.status_code
        return response

    def _apply_state(self, call: RecordedCall, body: object) -> Response:
        if not isinstance(body, dict) or set(body) - {"get", "put", "delete", "clear"}:
            self._violation(call, f"not a state batch: {body!r}")
            return problem(422, "validation_error", "not a state batch")
        gets, puts, deletes = body.get("get", []), body.get("put", {}), body.get("delete", [])
        clear = body.get("clear", False)
        shapes_ok = (
            isinstance(gets, list)
            and isinstance(deletes, list)
            and isinstance(puts, dict)
            and isinstance(clear, bool)
            and all(isinstance(v, str) for v in puts.values())
        )
        keys = [*gets, *deletes, *puts] if shapes_ok else []
        if not shapes_ok or not all(isinstance(k, str) and 1 <= len(k) <= 255 and k.isprintable() for k in keys):
            self._violation(call, f"malformed state batch: {body!r}"[:500])
            return problem(422, "validation_error", "malformed state batch")
        sizes = [len(v.encode()) for v in puts.values()]
        if any(size > MAX_STATE_VALUE for size in sizes) or sum(sizes) > MAX_STATE_BATCH:
            self._violation(call, "a state value over 1 MiB or a batch over 8 MiB")
            return problem(422, "validation_error", "state value or batch too large")
        # One transaction: nothing awaits between here and the answer.
        if clear:
            self.kv.clear()
        for key in deletes:
            self.kv.pop(key, None)
        self.kv.update(puts)
        return JSONResponse({"values": {key: self.kv.get(key) for key in gets}})

    async def _snapshot(self, request: Request) -> Response:
        call = self._record(request, "snapshot")
        name = request.path_params["name"]
        content = await request.body()
        call.reads_state = request.method == "GET"
        response = self._gate(request, call)
        if response is None:
            if request.method == "GET":
                await self._reads_released.wait()
                response = self._get_snapshot(name)
            else:
                response = self._put_snapshot(call, name, request, content)
        call.status = response.status_code
        return response

    def _get_snapshot(self, name: str) -> Response:
        generations = self.snapshots.get(name)
        if not generations:
            return problem(404, "snapshot_not_found")
        newest = generations[-1]
        headers = {"X-Content-SHA256": newest.sha256, "X-Generation": str(newest.generation)}
        return Response(newest.content, media_type="application/octet-stream", headers=headers)

    def _put_snapshot(self, call: RecordedCall, name: str, request: Request, content: bytes) -> Response:
        claimed = request.headers.get("x-content-sha256", "").lower()
        if_match = request.headers.get("if-match", "")
        if not claimed or not if_match.isdigit():
            self._violation(call, "snapshot PUT without X-Content-SHA256 or a numeric If-Match")
            return problem(422, "validation_error", "X-Content-SHA256 and If-Match are required")
        actual = hashlib.sha256(content).hexdigest()
        if claimed != actual:
            return problem(422, "checksum_mismatch")
        generations = self.snapshots.setdefault(name, [])
        current = generations[-1].generation if generations else 0
        if int(if_match) != current:
            return problem(412, "generation_conflict", f"current generation is {current}")
        generations.append(Snapshot(current + 1, content, actual))
        del generations[:-SNAPSHOT_GENERATIONS_KEPT]
        return JSONResponse({"generation": current + 1, "sha256": actual, "size": len(content)}, status_code=201)

    async def _elsewhere(self, request: Request) -> Response:
        call = self._record(request, "other")
        response = self._gate(request, call) or problem(503, "network_unreachable", "offline conformance suite")
        call.status = response.status_code
        return response


def envelope_problems(event: object) -> list[str]:
    """What is wrong with one event's envelope (§6) and, for the types the suite knows, its data."""
    if not isinstance(event, dict):
        return ["not an object"]
    found = []
    if not isinstance(event.get("id"), str) or not event["id"]:
        found.append("id is not a non-empty string")
    if not isinstance(event.get("type"), str) or not event["type"]:
        found.append("type is not a non-empty string")
    if parse_timestamp(event.get("timestamp")) is None:
        found.append(f"timestamp is not RFC 3339 with an offset: {event.get('timestamp')!r}")
    data = event.get("data")
    if not isinstance(data, dict):
        return [*found, "data is not an object"]
    if event.get("type") == "instance.status" and data.get("connection_state") not in CONNECTION_STATES:
        found.append(f"unknown connection_state {data.get('connection_state')!r}")
    return found


# ---------------------------------------------------------------------------------------------------------------------
# Worker processes


def sample_send(message_type: str) -> dict[str, Any]:
    """A well-formed Send (§5) of `message_type` to an outside number; media inline, so nothing is fetched."""
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32).decode()
    bodies: dict[str, dict[str, Any]] = {
        "text": {"text": "Hello from the conformance suite"},
        "image": {"media": {"base64": png}, "mimetype": "image/png", "caption": "a picture"},
        "video": {"media": {"base64": png}, "mimetype": "video/mp4", "caption": "a film"},
        "audio": {"media": {"base64": png}, "mimetype": "audio/ogg; codecs=opus", "voice_note": True},
        "document": {"media": {"base64": png}, "mimetype": "application/pdf", "filename": "a.pdf", "caption": "doc"},
        "sticker": {"media": {"base64": png}, "mimetype": "image/webp"},
        "location": {"location": {"latitude": 52.37, "longitude": 4.89, "name": "Dam", "address": "Amsterdam"}},
        "contact": {"contact": {"name": "Ada Lovelace", "phones": ["14155550199"]}},
        "reaction": {"reaction": {"message_id": "3EB0ABCDEF0123456789", "emoji": "👍"}},
        "poll": {"poll": {"name": "Lunch?", "options": ["pizza", "sushi"], "selectable_count": 1}},
    }
    return {"id": new_id("msg"), "to": "14155550100", "type": message_type, **bodies[message_type]}


class WorkerProcess:
    """One worker executable, started with the protocol's environment (§1); learns its address from worker.ready."""

    def __init__(
        self,
        provider: ProviderSpec,
        gateway: FakeGateway,
        *,
        epoch: int,
        data_dir: Path,
        log_path: Path,
        listen: str,
        config: dict[str, Any],
    ) -> None:
        self.provider = provider
        self.gateway = gateway
        self.epoch = epoch
        self.token = gateway.token_for(epoch)
        self.data_dir = data_dir
        self.log_path = log_path
        self.address: str | None = None if listen.endswith(":0") else listen
        self.ready_data: dict[str, Any] | None = None
        self._clients: list[httpx.AsyncClient] = []
        self._http: httpx.AsyncClient | None = None
        data_dir.mkdir(parents=True, exist_ok=True)
        protocol_env = {
            "INSTANCE_ID": gateway.instance_id,
            "WORKER_EPOCH": str(epoch),
            "WORKER_TOKEN": self.token,
            "GATEWAY_URL": gateway.url,
            "LISTEN": listen,
            "DATA_DIR": str(data_dir),
            "PROVIDER_CONFIG": json.dumps(config),
            "LOG_LEVEL": "debug",
        }
        env = {k: v for k, v in os.environ.items() if k not in protocol_env}
        env.update(protocol_env, PYTHONUNBUFFERED="1")
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                provider.command(), env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Worker-Epoch": str(self.epoch)}

    @property
    def base_url(self) -> str:
        if self.address is None:
            raise RuntimeError("the worker's address is not known before its worker.ready arrives")
        return f"http://{self.address}"

    def client(self, *, auth: bool = True, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
        """An HTTP client for this worker, closed at teardown; `auth=False` sends no credentials."""
        merged = {**(self.auth_headers() if auth else {}), **(headers or {})}
        client = httpx.AsyncClient(base_url=self.base_url, headers=merged, timeout=10)
        self._clients.append(client)
        return client

    @property
    def http(self) -> httpx.AsyncClient:
        """The client the control plane would use: this epoch's token."""
        if self._http is None:
            self._http = self.client()
        return self._http

    async def wait_ready(self, within: float = 30) -> dict[str, Any]:
        """The data of this worker's worker.ready event (the one of its epoch), once the gateway accepted it."""

        def mine() -> ReceivedEvent | None:
            for event in self.gateway.events_of_type("worker.ready"):
                if event.data.get("epoch") == self.epoch:
                    return event
            return None

        event = await eventually(mine, within, f"worker.ready of epoch {self.epoch}", worker=self)
        self.ready_data = event.data
        listen = event.data.get("listen")
        if self.address is None and isinstance(listen, str):
            self.address = listen
        return event.data

    async def wait_exit(self, within: float) -> int | None:
        """The exit status, or None if the process still runs after `within` seconds."""
        deadline = time.monotonic() + within
        # A child's exit is not an awaitable thing here (Popen, not asyncio's subprocess): poll it.
        while self.process.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return self.process.poll()

    def send_signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    async def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        await self.wait_exit(10)
        self.process.wait()

    async def aclose(self) -> None:
        await self.kill()
        for client in self._clients:
            await client.aclose()


async def eventually(
    probe: Callable[[], T | None], within: float, what: str, *, worker: WorkerProcess | None = None
) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = probe()
        if result is not None and result is not False:
            return result
        if worker is not None and not worker.running:
            raise AssertionError(f"waiting for {what}: the worker exited with {worker.process.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(f"waiting for {what}: nothing after {within} s")
        await asyncio.sleep(0.05)
