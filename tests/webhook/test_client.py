"""The webhook delivery client against real servers on loopback: keep-alive, closed connections, limits, TLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from whatsapp_gateway.db import utcnow
from whatsapp_gateway.event.models import Event
from whatsapp_gateway.event.schemas import Event as PublicEvent
from whatsapp_gateway.webhook.client import DeliveryClient, DeliveryFailed, Origin
from whatsapp_gateway.webhook.repository import PendingDelivery
from whatsapp_gateway.webhook.tasks import envelope

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


async def read_request(reader: asyncio.StreamReader) -> bytes | None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    return head + await reader.readexactly(length)


@asynccontextmanager
async def serving(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[tuple[int, list[int]]]:
    """A server on loopback; yields its port and the number of requests seen per connection."""
    per_connection: list[int] = []

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        per_connection.append(0)
        index = len(per_connection) - 1

        async def counted_read() -> bytes | None:
            try:
                request = await read_request(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return None
            per_connection[index] += 1
            return request

        reader.read_request = counted_read  # type: ignore[attr-defined]  # handed to the handler with the reader
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0, ssl=ssl_context)
    try:
        yield server.sockets[0].getsockname()[1], per_connection
    finally:
        server.close()


async def answer_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, response: bytes = OK) -> None:
    while await reader.read_request() is not None:  # type: ignore[attr-defined]
        writer.write(response)
        await writer.drain()


def http_origin(port: int) -> Origin:
    return Origin("http", "127.0.0.1", port, "127.0.0.1")


async def post(client: DeliveryClient, origin: Origin, timeout: float = 5.0) -> int:  # noqa: ASYNC109
    answer = await client.post(origin, "/hook?x=1", [("host", "receiver.example")], b'{"a":1}', timeout=timeout)
    return answer.status_code


async def test_connections_are_kept_alive_between_deliveries() -> None:
    client = DeliveryClient()
    async with serving(answer_each) as (port, per_connection):
        for _ in range(5):
            assert await post(client, http_origin(port)) == 200
    await client.aclose()
    assert per_connection == [5]


async def test_a_connection_the_receiver_closed_while_idle_is_replaced_without_a_failure() -> None:
    async def one_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if await reader.read_request() is not None:  # type: ignore[attr-defined]
            writer.write(OK)
            await writer.drain()

    client = DeliveryClient()
    async with serving(one_then_close) as (port, per_connection):
        assert await post(client, http_origin(port)) == 200
        await asyncio.sleep(0.1)  # the receiver has closed the kept-alive connection
        assert await post(client, http_origin(port)) == 200
    await client.aclose()
    assert per_connection == [1, 1]


async def test_chunked_and_oversized_answers_are_read_as_far_as_needed() -> None:
    chunked = b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\nretry-after: 7\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    big = b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n" + b"x" * 1_000_000
    client = DeliveryClient(max_response_bytes=64 * 1024)
    async with serving(lambda r, w: answer_each(r, w, chunked)) as (port, _):
        answer = await client.post(http_origin(port), "/", [("host", "h")], b"{}", timeout=5)
        assert (answer.status_code, answer.headers["retry-after"]) == (201, "7")
    async with serving(lambda r, w: answer_each(r, w, big)) as (port, per_connection):
        assert await post(client, http_origin(port)) == 200
        assert await post(client, http_origin(port)) == 200
    await client.aclose()
    assert per_connection == [1, 1]  # an answer too long to read is not worth keeping the connection for


async def test_silence_refusal_and_garbage_are_delivery_failures() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read_request()  # type: ignore[attr-defined]
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()

    client = DeliveryClient()
    async with serving(silent) as (port, _):
        with pytest.raises(DeliveryFailed, match=r"timed out after 0.2 s"):
            await post(client, http_origin(port), timeout=0.2)
    async with serving(garbage) as (port, _):
        with pytest.raises(DeliveryFailed):
            await post(client, http_origin(port))
    async with serving(answer_each) as (port, _):
        pass
    with pytest.raises(DeliveryFailed, match="ConnectionRefusedError"):
        await post(client, http_origin(port))
    await client.aclose()


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_https_to_a_pinned_address_checks_the_certificate_against_the_urls_name(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path, "hooks.receiver.test")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    seen_names: list[str | None] = []
    server_context.sni_callback = lambda sock, name, _ctx: seen_names.append(name)  # type: ignore[assignment,func-returns-value]

    async with serving(answer_each, server_context) as (port, _):
        # Connected by address (what the SSRF guard checked), verified and introduced by the URL's name.
        client = DeliveryClient(ssl_context=trusting)
        assert await post(client, Origin("https", "127.0.0.1", port, "hooks.receiver.test")) == 200
        # A certificate for another name is refused, as it must be.
        with pytest.raises(DeliveryFailed, match="TLS"):
            await post(client, Origin("https", "127.0.0.1", port, "other.receiver.test"))
        await client.aclose()
        # And an untrusted certificate too.
        untrusting = DeliveryClient()
        with pytest.raises(DeliveryFailed, match="TLS"):
            await post(untrusting, Origin("https", "127.0.0.1", port, "hooks.receiver.test"))
        await untrusting.aclose()
    assert seen_names[0] == "hooks.receiver.test"


def test_the_delivered_envelope_is_the_event_as_the_api_shows_it() -> None:
    timestamp = utcnow()
    event = Event(
        event_id="evt_1", instance_id="ins_1", tenant_id="ten_1", type="message.received", timestamp=timestamp, data={}
    )
    event.data = {"text": "hé", "n": [1, 2]}
    delivery = PendingDelivery(1, timestamp, "evt_1", "message.received", "ins_1", timestamp, event.data)
    assert json.loads(envelope(delivery)) == PublicEvent.from_model(event).model_dump(mode="json")
