"""A small HTTP/1.1 client for webhook deliveries: h11 over asyncio streams, connections kept alive per receiver.

Why not httpx, which the rest of the gateway uses: a delivery is one small POST, repeated thousands of times a second
under load, and httpx's layers (anyio, httpcore's pool, its request and response models) cost about 1.5 ms of CPU per
request here against a few hundredths of a millisecond for the HTTP work itself (docs/benchmarks.md, "Webhooks"). The
protocol itself is h11's job, as it is under httpx; this module only adds connecting (to the address the SSRF guard
checked, with the URL's name for TLS), a pool of idle connections and a deadline.

Only what deliveries need: POST with a body, no redirects, no cookies, no proxies, no HTTP/2. The answer's body is
read up to a limit and dropped.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import defaultdict, deque
from dataclasses import dataclass

import h11

READ_CHUNK = 65536


class DeliveryFailed(Exception):
    """The receiver could not be reached, or did not answer properly in time. The message is for the delivery log."""


@dataclass(frozen=True)
class Origin:
    """Where to connect (an address, already checked) and who the receiver is (its name, for Host and TLS)."""

    scheme: str
    address: str
    port: int
    server_name: str

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.scheme, self.address, self.port, self.server_name)


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: dict[str, str]


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.protocol = h11.Connection(our_role=h11.CLIENT)

    def close(self) -> None:
        self.writer.close()


class DeliveryClient:
    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_response_bytes: int = 64 * 1024,
        max_idle_per_origin: int = 64,
    ) -> None:
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._max_response_bytes = max_response_bytes
        # As many as deliveries can run at once to one receiver, so that a busy one is not reconnected to over and over.
        self._max_idle_per_origin = max_idle_per_origin
        self._idle: defaultdict[tuple[str, str, int, str], deque[_Connection]] = defaultdict(deque)

    async def post(
        self,
        origin: Origin,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        timeout: float,  # noqa: ASYNC109 - the deadline of one delivery, turned into a DeliveryFailed
    ) -> Answer:
        """POST `body` to `target` (path and query) at `origin`; raises DeliveryFailed."""
        try:
            async with asyncio.timeout(timeout):
                return await self._post(origin, target, headers, body)
        except TimeoutError as exc:
            raise DeliveryFailed(f"timed out after {timeout:g} s") from exc
        except ssl.SSLError as exc:
            raise DeliveryFailed(f"TLS: {exc.reason or exc}") from exc
        except (OSError, h11.ProtocolError) as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc

    async def _post(self, origin: Origin, target: str, headers: list[tuple[str, str]], body: bytes) -> Answer:
        idle = self._idle[origin.key]
        while idle:
            connection = idle.popleft()
            try:
                return await self._exchange(origin, connection, target, headers, body)
            except _StaleConnection:
                continue  # the receiver closed it while it was idle; nothing was received: try another
        connection = await self._connect(origin)
        try:
            return await self._exchange(origin, connection, target, headers, body)
        except _StaleConnection as exc:
            raise DeliveryFailed("the receiver closed the connection without answering") from exc

    async def _connect(self, origin: Origin) -> _Connection:
        if origin.scheme == "https":
            reader, writer = await asyncio.open_connection(
                origin.address, origin.port, ssl=self._ssl_context, server_hostname=origin.server_name
            )
        else:
            reader, writer = await asyncio.open_connection(origin.address, origin.port)
        return _Connection(reader, writer)

    async def _exchange(
        self, origin: Origin, connection: _Connection, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> Answer:
        protocol = connection.protocol
        answered = False
        try:
            request = h11.Request(method="POST", target=target, headers=[*headers, ("content-length", str(len(body)))])
            for event_out in (request, h11.Data(data=body), h11.EndOfMessage()):
                connection.writer.write(protocol.send(event_out) or b"")
            await connection.writer.drain()
            response: h11.Response | None = None
            received = 0
            while True:
                event = protocol.next_event()
                if event is h11.NEED_DATA:
                    data = await connection.reader.read(READ_CHUNK)
                    if not data and response is None:
                        raise _StaleConnection
                    protocol.receive_data(data)
                    continue
                if isinstance(event, h11.Response):
                    response, answered = event, True
                elif isinstance(event, h11.Data):
                    received += len(event.data)
                    if received > self._max_response_bytes:
                        # Enough to know it answered; the rest is not worth reading, so the connection is not reused.
                        connection.close()
                        return _answer(response)
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    break
        except (ConnectionResetError, BrokenPipeError) as exc:
            connection.close()
            if not answered:
                raise _StaleConnection from exc
            raise
        except BaseException:
            connection.close()
            raise
        answer = _answer(response)
        if protocol.our_state is h11.DONE and protocol.their_state is h11.DONE:
            protocol.start_next_cycle()
            idle = self._idle[origin.key]
            if len(idle) < self._max_idle_per_origin:
                idle.append(connection)
                return answer
        connection.close()
        return answer

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()


class _StaleConnection(Exception):
    """The connection ended before any answer: a kept-alive connection the receiver had closed."""


def _answer(response: h11.Response | None) -> Answer:
    if response is None:
        raise h11.RemoteProtocolError("no response")
    return Answer(
        response.status_code, {name.decode("latin-1"): value.decode("latin-1") for name, value in response.headers}
    )
