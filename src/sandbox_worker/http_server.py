"""A small HTTP/1.1 server: h11 parses, asyncio streams carry the bytes.

Enough for the gateway's calls: keep-alive, Content-Length and chunked bodies with a size cap, JSON and problem+json
answers. It knows nothing of the protocol's endpoints; a handler maps a `Request` to a `Response`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote, urlsplit

import h11

from sandbox_worker.log import Logger
from sandbox_worker.problems import Problem, invalid_request

# Inline media arrives base64-encoded: 16 MB of media is about 21.4 MB of body.
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_HEAD_BYTES = 64 * 1024
# How long a kept-alive connection may sit idle, and how long a started request may stall.
IDLE_TIMEOUT_SECONDS = 75.0
READ_TIMEOUT_SECONDS = 30.0
_READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    # Lower-cased names; a repeated header keeps its last value.
    headers: dict[str, str]
    body: bytes

    def json(self, *, optional: bool = False) -> object:
        """The body as JSON; a missing or malformed body is the client's mistake (422 invalid_request)."""
        if not self.body.strip():
            if optional:
                return None
            raise invalid_request("A JSON body is required.")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise invalid_request("The body is not valid JSON.") from None


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    # Runs once the answer is on the wire: how `POST /v1/shutdown` answers 202 before the worker stops.
    on_sent: Callable[[], None] | None = field(default=None, compare=False)

    @classmethod
    def json(cls, status: int, payload: object, *, on_sent: Callable[[], None] | None = None) -> Response:
        return cls(status, json.dumps(payload).encode(), "application/json", on_sent=on_sent)

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        return cls(status)

    @classmethod
    def problem(cls, problem: Problem, headers: tuple[tuple[str, str], ...] = ()) -> Response:
        return cls(problem.status, json.dumps(problem.document()).encode(), "application/problem+json", headers)


Handler = Callable[[Request], Awaitable[Response]]


class _Reject(Exception):
    """The request cannot be served; answer with `response` and close the connection."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class HttpServer:
    def __init__(self, handler: Handler, log: Logger, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self._handler = handler
        self._log = log
        self._max_body_bytes = max_body_bytes
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen; returns the address actually bound (port 0 asks the OS for a free one)."""
        self._server = await asyncio.start_server(self._serve, host, port, limit=_READ_CHUNK)
        bound = self._server.sockets[0].getsockname()
        return str(bound[0]), int(bound[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        # Server.close() leaves accepted connections open before Python 3.13; they would hold the process up.
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=2.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        try:
            while True:
                try:
                    request = await self._read_request(conn, reader, writer)
                except _Reject as reject:
                    if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                        await self._send(conn, writer, reject.response, close=True)
                    return
                if request is None:
                    return
                response = await self._dispatch(request)
                await self._send(conn, writer, response, head=request.method == "HEAD")
                if response.on_sent is not None:
                    response.on_sent()
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (ConnectionError, TimeoutError, h11.ProtocolError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _next_event(self, conn: h11.Connection, reader: asyncio.StreamReader, time_limit: float) -> object:
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                problem = Problem(exc.error_status_hint, "bad_request", f"Malformed HTTP request: {exc}")
                raise _Reject(Response.problem(problem)) from None
            if event is not h11.NEED_DATA:
                return event
            data = await asyncio.wait_for(reader.read(_READ_CHUNK), time_limit)
            conn.receive_data(data)

    async def _read_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Request | None:
        try:
            event = await self._next_event(conn, reader, IDLE_TIMEOUT_SECONDS)
        except TimeoutError:
            return None
        if isinstance(event, h11.ConnectionClosed):
            return None
        if not isinstance(event, h11.Request):
            raise _Reject(Response.problem(Problem(400, "bad_request", "Expected an HTTP request.")))
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in event.headers}
        too_large = Response.problem(
            Problem(413, "media_too_large", f"The body exceeds {self._max_body_bytes} bytes."),
            (("connection", "close"),),
        )
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self._max_body_bytes:
            raise _Reject(too_large)
        if conn.they_are_waiting_for_100_continue:
            writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                body_event = await self._next_event(conn, reader, READ_TIMEOUT_SECONDS)
            except TimeoutError:
                raise _Reject(Response.problem(Problem(400, "bad_request", "The request body stalled."))) from None
            if isinstance(body_event, h11.Data):
                size += len(body_event.data)
                if size > self._max_body_bytes:
                    raise _Reject(too_large)
                chunks.append(bytes(body_event.data))
            elif isinstance(body_event, h11.EndOfMessage):
                break
            else:
                raise _Reject(Response.problem(Problem(400, "bad_request", "The request ended early.")))
        target = event.target.decode("latin-1")
        split = urlsplit(target)
        return Request(
            method=event.method.decode("latin-1").upper(),
            path=unquote(split.path),
            query=dict(parse_qsl(split.query)),
            headers=headers,
            body=b"".join(chunks),
        )

    async def _dispatch(self, request: Request) -> Response:
        try:
            return await self._handler(request)
        except Problem as problem:
            return Response.problem(problem)
        except Exception as exc:
            self._log.error("request failed", method=request.method, path=request.path, error=repr(exc))
            return Response.problem(Problem(500, "internal_error", "The worker failed to handle the request."))

    async def _send(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        response: Response,
        *,
        close: bool = False,
        head: bool = False,
    ) -> None:
        headers = [("server", "wagw-sandbox-worker")]
        if response.status != 204 and response.status >= 200:
            headers.append(("content-length", str(len(response.body))))
        if response.content_type:
            headers.append(("content-type", response.content_type))
        headers.extend(response.headers)
        if close and not any(name == "connection" for name, _ in response.headers):
            headers.append(("connection", "close"))
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
        start = h11.Response(status_code=response.status, headers=headers, reason=reason.encode())
        writer.write(conn.send(start) or b"")
        if response.body and response.status != 204 and not head:
            writer.write(conn.send(h11.Data(data=response.body)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()
