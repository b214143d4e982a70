"""The h11 server and client over real loopback sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from sandbox_worker.http_client import HttpClient, HttpClientError
from sandbox_worker.http_server import HttpServer, Request, Response
from sandbox_worker.log import Logger
from sandbox_worker.problems import Problem


async def _echo(request: Request) -> Response:
    if request.path == "/problem":
        raise Problem(409, "not_connected", "nope")
    if request.path == "/boom":
        raise RuntimeError("bug")
    return Response.json(
        200, {"method": request.method, "path": request.path, "query": request.query, "body": len(request.body)}
    )


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, int]]:
    running = HttpServer(_echo, Logger("error"), max_body_bytes=1024)
    address = await running.start("127.0.0.1", 0)
    yield address
    await running.close()


async def _raw(address: tuple[str, int], data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    await writer.wait_closed()
    return answer


def _problem_of(raw: bytes) -> dict[str, object]:
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in head.lower()
    document = json.loads(body)
    assert isinstance(document, dict)
    return document


async def test_a_malformed_request_gets_400(server: tuple[str, int]) -> None:
    answer = await _raw(server, b"THIS IS NOT HTTP\r\n\r\n")

    assert answer.startswith(b"HTTP/1.1 400")
    assert _problem_of(answer)["type"] == "about:blank"


async def test_a_body_over_the_limit_gets_413(server: tuple[str, int]) -> None:
    answer = await _raw(server, b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n")

    assert answer.startswith(b"HTTP/1.1 413")
    assert _problem_of(answer)["code"] == "media_too_large"


async def test_problems_and_bugs_are_problem_documents(server: tuple[str, int]) -> None:
    conflict = await _raw(server, b"GET /problem HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    bug = await _raw(server, b"GET /boom HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")

    assert _problem_of(conflict) == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "detail": "nope",
        "code": "not_connected",
    }
    assert _problem_of(bug)["status"] == 500


async def test_the_client_keeps_connections_alive(server: tuple[str, int]) -> None:
    client = HttpClient(f"http://{server[0]}:{server[1]}")
    try:
        first = await client.request("POST", "/a?x=1", body=b"hello")
        second = await client.request("GET", "/b")
        pooled = len(client._idle)
    finally:
        await client.close()

    assert json.loads(first.body) == {"method": "POST", "path": "/a", "query": {"x": "1"}, "body": 5}
    assert json.loads(second.body)["path"] == "/b"
    assert pooled == 1


async def test_the_client_reports_an_unreachable_server() -> None:
    probe = HttpServer(_echo, Logger("error"))
    host, port = await probe.start("127.0.0.1", 0)
    await probe.close()
    client = HttpClient(f"http://{host}:{port}")
    try:
        with pytest.raises(HttpClientError):
            await client.request("GET", "/", time_limit=2)
    finally:
        await client.close()
