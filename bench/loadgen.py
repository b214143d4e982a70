"""A closed-loop HTTP/1.1 load generator, run as its own process so its CPU shows up apart from the server's.

`concurrency` workers each hold one keep-alive connection to 127.0.0.1 and send the next request as soon as the
previous answer is read. The run stops at `max_seconds` or after `max_requests`, whichever comes first. Two clients:

- `raw`: asyncio streams on uvloop, writing request bytes and parsing the status line and Content-Length itself;
  several times cheaper per request than httpx, so more of the machine's two cores is left to the server.
- `httpx`: httpx.AsyncClient, kept to show how much of a small machine a general-purpose client takes.
- `delivery`: the gateway's webhook delivery client, to show what the dispatcher's HTTP work costs.

Prints one JSON object: counts, statuses, latency percentiles of the expected answers, and the client's CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

HOST = "127.0.0.1"
REQUEST_TIMEOUT_SECONDS = 10.0
SAMPLE_BODY_CHARS = 500
PHONE_TOKEN = "{phone}"


@dataclass(frozen=True)
class Scenario:
    """One kind of request. `{phone}` in the body becomes a phone number no other request of the run uses."""

    method: str
    path: str
    headers: dict[str, str]
    expect_status: int
    body_template: str | None = None
    phone_block: int = 0

    @classmethod
    def from_json(cls, text: str) -> Scenario:
        return cls(**json.loads(text))


@dataclass
class Tally:
    max_requests: int
    deadline: float = 0.0
    issued: int = 0
    latencies_ns: list[int] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)

    def take(self) -> bool:
        """Whether one more request may be sent: both the count and the time limit bound every loop."""
        if self.issued >= self.max_requests or time.perf_counter() >= self.deadline:
            return False
        self.issued += 1
        return True

    def answered(self, status: int, body: bytes, elapsed_ns: int, expected: int) -> None:
        self.statuses[str(status)] += 1
        if status == expected:
            self.latencies_ns.append(elapsed_ns)
        else:
            self.samples.setdefault(str(status), body[:SAMPLE_BODY_CHARS].decode("utf-8", "replace"))

    def failed(self, exc: BaseException) -> None:
        kind = type(exc).__name__
        self.statuses[kind] += 1
        self.samples.setdefault(kind, str(exc)[:SAMPLE_BODY_CHARS])


class Bodies:
    def __init__(self, scenario: Scenario) -> None:
        self.template = scenario.body_template
        self.block = scenario.phone_block
        self.counter = itertools.count(1)

    def next(self) -> bytes:
        if self.template is None:
            return b""
        # `+1` and a three-digit block per run, then a counter: unique across every run of one bench.
        phone = f"+1{self.block:03d}{next(self.counter):07d}"
        return self.template.replace(PHONE_TOKEN, phone).encode()


class RawConnection:
    """One keep-alive HTTP/1.1 connection. Understands just enough of HTTP for what uvicorn answers."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length: int | None = None
        chunked = closing = False
        for line in head[:-4].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                closing = b"close" in value.lower()
        if chunked:
            body = await self._read_chunked()
        elif length is not None:
            body = await self.reader.readexactly(length)
        else:
            body, closing = await self.reader.read(), True
        if closing:
            await self.close()
        return status, body

    async def _read_chunked(self) -> bytes:
        assert self.reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


def _request_bytes(scenario: Scenario, port: int, body: bytes) -> bytes:
    lines = [f"{scenario.method} {scenario.path} HTTP/1.1", f"Host: {HOST}:{port}"]
    lines += [f"{name}: {value}" for name, value in scenario.headers.items()]
    if body or scenario.method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


Exchange = Callable[[bytes], Awaitable[tuple[int, bytes]]]


async def _worker(
    exchange: Exchange, scenario: Scenario, bodies: Bodies, tally: Tally, reset: Callable[[], Awaitable[None]]
) -> None:
    while tally.take():
        body = bodies.next()
        started = time.perf_counter_ns()
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                status, answer = await exchange(body)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            tally.failed(exc)
            await reset()
            continue
        tally.answered(status, answer, time.perf_counter_ns() - started, scenario.expect_status)


async def run_raw(port: int, scenario: Scenario, concurrency: int, max_seconds: float, tally: Tally) -> float:
    bodies = Bodies(scenario)
    connections = [RawConnection(port) for _ in range(concurrency)]
    # Connect first, so connection setup is not counted in the measured time.
    await asyncio.gather(*(c.open() for c in connections))

    def worker(connection: RawConnection) -> Awaitable[None]:
        async def exchange(body: bytes) -> tuple[int, bytes]:
            return await connection.exchange(_request_bytes(scenario, port, body))

        return _worker(exchange, scenario, bodies, tally, connection.close)

    started = time.perf_counter()
    tally.deadline = started + max_seconds
    await asyncio.gather(*(worker(c) for c in connections))
    elapsed = time.perf_counter() - started
    await asyncio.gather(*(c.close() for c in connections))
    return elapsed


async def run_httpx(port: int, scenario: Scenario, concurrency: int, max_seconds: float, tally: Tally) -> float:
    import httpx

    bodies = Bodies(scenario)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=f"http://{HOST}:{port}", limits=limits, timeout=REQUEST_TIMEOUT_SECONDS
    ) as client:

        async def exchange(body: bytes) -> tuple[int, bytes]:
            response = await client.request(scenario.method, scenario.path, content=body, headers=scenario.headers)
            return response.status_code, response.content

        async def nothing() -> None:
            return None

        started = time.perf_counter()
        tally.deadline = started + max_seconds
        await asyncio.gather(*(_worker(exchange, scenario, bodies, tally, nothing) for _ in range(concurrency)))
        return time.perf_counter() - started


def _percentile(sorted_values: list[int], fraction: float) -> float | None:
    if not sorted_values:
        return None
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank] / 1e6


def summarize(tally: Tally, scenario: Scenario, elapsed: float, client_cpu: float) -> dict[str, Any]:
    latencies = sorted(tally.latencies_ns)
    answered = sum(v for k, v in tally.statuses.items() if k.isdigit())
    ok = len(latencies)
    return {
        "requests": answered + sum(v for k, v in tally.statuses.items() if not k.isdigit()),
        "ok": ok,
        "errors": sum(v for k, v in tally.statuses.items() if k != str(scenario.expect_status)),
        "statuses": dict(tally.statuses),
        "error_samples": tally.samples,
        "elapsed_s": round(elapsed, 3),
        "requests_per_s": round(ok / elapsed, 1) if elapsed > 0 else 0.0,
        "latency_ms": {
            "p50": _percentile(latencies, 0.50),
            "p90": _percentile(latencies, 0.90),
            "p99": _percentile(latencies, 0.99),
            "max": latencies[-1] / 1e6 if latencies else None,
            "mean": round(sum(latencies) / ok / 1e6, 3) if ok else None,
        },
        "client_cpu_s": round(client_cpu, 3),
    }


async def run_delivery(port: int, scenario: Scenario, concurrency: int, max_seconds: float, tally: Tally) -> float:
    """The gateway's own webhook delivery client (whatsapp_gateway/webhook/client.py)."""
    from whatsapp_gateway.webhook.client import DeliveryClient, Origin

    bodies = Bodies(scenario)
    client = DeliveryClient()
    origin = Origin("http", HOST, port, HOST)
    headers = [("host", f"{HOST}:{port}"), *((name.lower(), value) for name, value in scenario.headers.items())]

    async def exchange(body: bytes) -> tuple[int, bytes]:
        answer = await client.post(origin, scenario.path, headers, body, timeout=REQUEST_TIMEOUT_SECONDS)
        return answer.status_code, b""

    async def nothing() -> None:
        return None

    started = time.perf_counter()
    tally.deadline = started + max_seconds
    await asyncio.gather(*(_worker(exchange, scenario, bodies, tally, nothing) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await client.aclose()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--scenario", required=True, help="JSON object with the fields of Scenario.")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-requests", type=int, required=True)
    parser.add_argument("--max-seconds", type=float, required=True)
    parser.add_argument("--client", choices=("raw", "httpx", "delivery"), default="raw")
    args = parser.parse_args(argv)

    scenario = Scenario.from_json(args.scenario)
    tally = Tally(max_requests=args.max_requests)
    run = {"raw": run_raw, "httpx": run_httpx, "delivery": run_delivery}[args.client]

    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    cpu_before = time.process_time()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        elapsed = runner.run(run(args.port, scenario, args.concurrency, args.max_seconds, tally))
    client_cpu = time.process_time() - cpu_before
    json.dump(summarize(tally, scenario, elapsed, client_cpu), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
