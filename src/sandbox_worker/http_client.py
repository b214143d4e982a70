"""A small HTTP/1.1 client for one base URL: h11 over asyncio streams, with a pool of kept-alive connections.

The worker talks to a single host (the gateway), a few requests at a time (one long poll, event batches, state
calls), so a handful of idle connections is all the pooling it needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

from sandbox_worker import PROVIDER_VERSION

MAX_RESPONSE_BYTES = 64 * 1024 * 1024
_READ_CHUNK = 64 * 1024


class HttpClientError(Exception):
    """The exchange failed below HTTP: refused, reset, timed out, or not HTTP."""


class _StaleConnection(Exception):
    """A pooled connection the server had closed before it sent a byte of the answer."""


@dataclass(frozen=True)
class ClientResponse:
    status: int
    # Lower-cased names.
    headers: dict[str, str]
    body: bytes


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


# Pooled connections idle longer than this are not reused: servers close idle keep-alive connections (uvicorn after
# 5 s by default), and a request written into a connection the server is closing is lost in a race.
_MAX_IDLE_SECONDS = 4.0


class HttpClient:
    def __init__(self, base_url: str, *, max_idle: int = 4, connect_timeout: float = 5.0) -> None:
        split = urlsplit(base_url)
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._tls = split.scheme == "https"
        self._host = split.hostname
        self._port = split.port or (443 if self._tls else 80)
        self._host_header = split.netloc.rpartition("@")[2]
        self._prefix = split.path.rstrip("/")
        self._max_idle = max_idle
        self._connect_timeout = connect_timeout
        self._idle: list[_Connection] = []
        self._closed = False

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
        time_limit: float = 15.0,
    ) -> ClientResponse:
        """One exchange; `time_limit` bounds all of it. Raises HttpClientError when no HTTP answer came back."""
        if self._closed:
            raise HttpClientError("client closed")
        all_headers = [("host", self._host_header), ("user-agent", f"wagw-sandbox-worker/{PROVIDER_VERSION}")]
        if body is not None:
            all_headers.append(("content-length", str(len(body))))
        all_headers.extend(headers or [])
        request = h11.Request(method=method, target=self._prefix + path, headers=all_headers)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + time_limit
        # One retry, and only for a pooled connection the server had already closed: nothing reached it.
        for attempt in range(2):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise HttpClientError(f"{method} {path}: timed out")
            conn = self._pooled(loop.time())
            reused = conn is not None
            try:
                if conn is None:
                    conn = await asyncio.wait_for(self._connect(), min(remaining, self._connect_timeout))
                response, reusable = await asyncio.wait_for(self._exchange(conn, request, body), remaining)
            except _StaleConnection:
                assert conn is not None
                conn.close()
                if reused and attempt == 0:
                    # The server closed it while idle, and probably its pooled siblings too: retry on a new one.
                    self._drop_idle()
                    continue
                raise HttpClientError(f"{method} {path}: connection closed by the server") from None
            except TimeoutError:
                if conn is not None:
                    conn.close()
                raise HttpClientError(f"{method} {path}: timed out") from None
            except (OSError, h11.ProtocolError, ssl.SSLError) as exc:
                if conn is not None:
                    conn.close()
                raise HttpClientError(f"{method} {path}: {exc!r}") from None
            except BaseException:
                # Cancelled mid-exchange: the connection is in an unknown state.
                if conn is not None:
                    conn.close()
                raise
            if reusable and not self._closed and len(self._idle) < self._max_idle:
                conn.h11.start_next_cycle()
                conn.idle_since = loop.time()
                self._idle.append(conn)
            else:
                conn.close()
            return response
        raise HttpClientError(f"{method} {path}: unreachable")  # pragma: no cover - the loop always returns or raises

    async def close(self) -> None:
        self._closed = True
        self._drop_idle()

    def _pooled(self, now: float) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if now - conn.idle_since < _MAX_IDLE_SECONDS:
                return conn
            conn.close()
        return None

    def _drop_idle(self) -> None:
        while self._idle:
            self._idle.pop().close()

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_connection(
            self._host, self._port, ssl=True if self._tls else None, limit=_READ_CHUNK
        )
        return _Connection(reader, writer)

    async def _exchange(
        self, conn: _Connection, request: h11.Request, body: bytes | None
    ) -> tuple[ClientResponse, bool]:
        out = conn.h11.send(request) or b""
        if body:
            out += conn.h11.send(h11.Data(data=body)) or b""
        out += conn.h11.send(h11.EndOfMessage()) or b""
        try:
            conn.writer.write(out)
            await conn.writer.drain()
        except (ConnectionResetError, BrokenPipeError):
            raise _StaleConnection from None
        head: h11.Response | None = None
        chunks: list[bytes] = []
        size = 0
        while True:
            event = conn.h11.next_event()
            if event is h11.NEED_DATA:
                try:
                    data = await conn.reader.read(_READ_CHUNK)
                except ConnectionResetError:
                    if head is None:
                        raise _StaleConnection from None
                    raise
                if not data and head is None:
                    raise _StaleConnection
                conn.h11.receive_data(data)
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > MAX_RESPONSE_BYTES:
                    raise HttpClientError("response too large")
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise _StaleConnection if head is None else HttpClientError("connection closed mid-response")
            # InformationalResponse (100 Continue) is skipped.
        assert head is not None
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in head.headers}
        reusable = conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE
        return ClientResponse(head.status_code, headers, b"".join(chunks)), reusable
