"""Webhook delivery end to end: events delivered per second and their latency, sandbox inbound → receiver.

Run with `make bench` (after the API and worker benchmarks) or alone with `python -m bench.bench_webhooks [--quick]`.
Every process is real: the gateway as `wagw run`, one `python -m sandbox_worker` per instance (started by the
gateway's local runtime), and the webhook receiver, a bare HTTP/1.1 server of this module
(`python -m bench.bench_webhooks receiver --port N`) in a process of its own. This process injects the load. A
message goes: `POST /api/sandbox/inbound/batch` → the hub's mailbox → the instance's worker (long poll) → its
`message.received` event, posted back to the gateway → the event and its delivery row, one transaction → the
dispatcher → a signed POST to the receiver. Workers outlive the gateway by design, so the bench kills each one it
caused (as bench/bench_workers.py does). Results go to bench/results/webhooks.json and to the generated section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
import httpx
from tests.support.postgres import PostgresUnavailable

from bench.bench_api import (
    HOST,
    Server,
    clean_environment,
    cpu_busy_percent,
    free_port,
    git_commit,
    machine_info,
    process_cpu_seconds,
    random_secret,
    replace_docs_section,
    run_load,
    running_server,
    server_log_lines,
)
from bench.bench_workers import (
    EXTRA_GATEWAY_VARIABLES,
    Tenant,
    expect,
    kill_workers,
    markdown_table,
    new_tenant,
    pair,
    percentile,
    postgres_database,
    wait_for,
    wait_quiet,
    worker_record,
)
from bench.loadgen import Scenario

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results" / "webhooks.json"
DOCS = ROOT / "docs" / "benchmarks.md"
START_MARKER = "<!-- bench_webhooks:start -->"
END_MARKER = "<!-- bench_webhooks:end -->"

# Targets, on PostgreSQL (the issue's); SQLite is judged against the same figures for comparison.
TARGET_EVENTS_PER_S = 1_000.0  # at least, sustained
TARGET_FIXED_RATE = 200.0  # events/s ...
TARGET_FIXED_P99_MS = 100.0  # ... with p99 at most this

HOOK_PATH = "/hook"
SENDER_PHONE = "+4915100000001"
MAX_INBOUND_BATCH = 500
INJECT_LANES = 2  # concurrent batch requests in the throughput phase; an instance is always in the same lane
FIXED_TICK_SECONDS = 0.05
FIXED_MAX_IN_FLIGHT = 32
WAIT_STALL_SECONDS = 30.0  # the receiver got nothing new for this long: what is missing is reported missing
WAIT_MAX_SECONDS = 240.0
WINDOW = (0.1, 0.9)  # the steady window: from the 10th to the 90th percentile of receipt times
PAIR_TIMEOUT_SECONDS = 30.0
INJECT_TIMEOUT_SECONDS = 120.0
HELD_TIMEOUT_SECONDS = 120

# Besides the API and worker benchmarks' lists: settings the gateway reads that must not leak in from the shell.
WEBHOOK_GATEWAY_VARIABLES = (
    "WEBHOOK_ALLOW_PRIVATE_TARGETS",
    "WEBHOOK_TIMEOUT_SECONDS",
    "WEBHOOK_RETRY_SCHEDULE",
    "WEBHOOK_CONCURRENCY",
    "WEBHOOK_DISABLE_AFTER_DAYS",
    "EVENT_RETENTION_DAYS",
    "DELIVERY_RETENTION_DAYS",
    "SANDBOX_QR_INTERVAL_SECONDS",
)

INTRO = """\
## Webhooks: events delivered end to end

Run it with `make bench` (it runs after the worker benchmark; about six minutes) or alone with
`python -m bench.bench_webhooks` (add `--quick` for fewer messages and shorter phases, about two and a half minutes).
Like the other benchmarks it needs PostgreSQL's binaries or `WAGW_TEST_POSTGRES_URL`; without them only SQLite is
measured. Raw results, with every phase's counts, latencies, CPU readings and statuses, are in
`bench/results/webhooks.json`.

What is measured, with real processes on 127.0.0.1, once on SQLite and once on PostgreSQL (the targets are stated for
PostgreSQL): the gateway (`wagw run`, `LOG_LEVEL=WARNING`; `WEBHOOK_ALLOW_PRIVATE_TARGETS=true` so that it may call
loopback, `WEBHOOK_TIMEOUT_SECONDS=120` for the held phase below), 16 paired sandbox instances, each with its own
worker process, and one tenant-wide webhook endpoint for `message.received` pointing at a **receiver**: a bare
HTTP/1.1 server (asyncio on uvloop, httptools) in a process of its own that checks each delivery's Standard Webhooks
signature, answers `200` and notes the time. The bench injects text messages from a simulated contact with
`POST /api/sandbox/inbound/batch`, round-robin over the instances; each text carries a sequence number and its
injection time. A message goes through the whole pipeline: the hub's mailbox, the instance's worker (long poll,
spool, a batch of events back to the gateway), the event and its delivery row written in one transaction, the
dispatcher (one request at a time per instance and endpoint, the instances' queues side by side), the signed POST.
**Latency** is the receiver's clock minus the injection time (one machine, one clock). It is split at the event's
`timestamp`, set by the worker when it emits the event: *inbound → event* is the inbound API, the hub and the worker;
*event → receiver* is the gateway recording the event, the outbox and the dispatcher.

- **Throughput**: a fixed number of messages injected as fast as the gateway takes them (batches of 500, two
  requests in flight, each instance always in the same one of the two lanes so that its messages keep their order).
  *events/s* is the messages received divided by the time from the first message sent to the last one received:
  the whole pipeline's sustained rate, the figure judged against the target. *10-90 % /s* is the receiver's rate
  between the 10th and the 90th percentile of receipt times; delivery lags behind injection, so part of that window
  falls after the last message was injected, when the gateway only delivers: it is an upper bound. *injected/s* is
  the rate at which the gateway accepted the messages. Latency here is mostly time in the backlog.
- **Fixed rate**: 200 messages/s as a batch of 10 every 50 ms, for a fixed time, open loop: a batch goes out on
  schedule whether or not the earlier ones were answered. Each message is stamped with the time it was *scheduled*
  for, so a slow gateway cannot hide latency by slowing the injector (no coordinated omission).
- **Delivery alone**: the receiver holds its answers, so each queue's first delivery waits and a backlog of messages
  builds up in the outbox; once the gateway and workers are idle (every event recorded) the receiver answers, and
  *events/s* is the rate of the drain, from the release to the last receipt: the dispatcher and the receiver,
  nothing else. Next to the throughput phase it tells delivery's share of the pipeline's cost.
- **Baseline**, in the same run: the receiver alone, at the same concurrency (one keep-alive connection per
  instance, the next request as soon as the answer arrives), sent a signed delivery by the API benchmark's load
  generator (`bench/loadgen.py`): with its raw asyncio client, with the dispatcher's own delivery client
  (`webhook/client.py`), and with `httpx.AsyncClient` (which deliveries used before). It shows the receiver is not
  the limit, and what the HTTP client alone costs on this machine.
- Every receipt is checked: signatures, duplicates (the same `webhook-id` twice, or a message delivered as two
  events), messages that never arrived (after 30 s without a new receipt the bench stops waiting), and order: an
  instance's message must not arrive before one that was accepted before it was sent.
- *CPU* is the CPU time (user + system, all threads, from `/proc/<pid>/stat`) of each group of processes from the
  phase's start to its last receipt, in CPUs (1.00 = one CPU all the time); *PostgreSQL* is the server's processes,
  those of closed connections included. *gateway CPU ms/event* divides the gateway's CPU time by the messages
  received.

Caveats:

- The machine has 2 CPUs, and the gateway, 16 workers, PostgreSQL, the receiver and the injector share them: the
  figures are those of the whole pipeline on one small machine. The gateway is one process, so one CPU is its
  ceiling whatever the machine has left; the CPU table shows how close it came.
- One run per phase: rates move by 10-30 % between runs on a small shared machine. Compare rows of one run.
"""


@dataclass(frozen=True)
class Settings:
    instances: int
    throughput_events: int
    fixed_rate: float
    fixed_seconds: float
    warmup_events: int
    backlog_events: int
    baseline_seconds: float


# -- the receiver (its own process) -------------------------------------------------------------------------------


Answer = Callable[[int, bytes], None]


@dataclass
class Receipts:
    """What the receiver saw: one row per POST to the hook, plus its signing key once the bench tells it.

    While `held`, hook requests wait unanswered (each holds its webhook queue in the gateway, so a backlog builds);
    `release` answers them and every later one at once.
    """

    key: bytes | None = None
    rows: list[tuple[float, str, str, str, str, bool]] = field(default_factory=list)
    bad_requests: int = 0
    held: bool = False
    waiting: list[tuple[Answer, dict[bytes, bytes], bytes]] = field(default_factory=list)

    def hook(self, headers: dict[bytes, bytes], body: bytes, answer: Answer) -> None:
        if self.held:
            self.waiting.append((answer, headers, body))
        else:
            answer(self.record(headers, body), b"")

    def record(self, headers: dict[bytes, bytes], body: bytes) -> int:
        received = time.time()
        try:
            event = json.loads(body)
            event_id = headers[b"webhook-id"].decode()
            signed = headers[b"webhook-id"] + b"." + headers[b"webhook-timestamp"] + b"." + body
        except (ValueError, KeyError):
            self.bad_requests += 1
            return 400
        signature_ok = False
        if self.key is not None:
            expected = b"v1," + base64.b64encode(hmac.new(self.key, signed, hashlib.sha256).digest())
            given = headers.get(b"webhook-signature", b"").split()
            signature_ok = any(hmac.compare_digest(expected, s) for s in given)
        data = event.get("data") or {}
        self.rows.append(
            (
                received,
                event_id,
                str(event.get("instance")),
                str(data.get("text")),
                str(event.get("timestamp")),
                signature_ok,
            )
        )
        return 200

    def control(self, method: bytes, path: bytes, body: bytes) -> tuple[int, bytes]:
        if path == b"/healthz":
            return 200, b'{"ok":true}'
        if path == b"/stats":
            stats = {"received": len(self.rows), "waiting": len(self.waiting), "bad_requests": self.bad_requests}
            return 200, json.dumps(stats).encode()
        if method == b"POST" and path == b"/secret":
            self.key = base64.b64decode(body.decode().removeprefix("whsec_"))
            return 200, b"{}"
        if method == b"POST" and path == b"/take":
            taken, self.rows = self.rows, []
            return 200, json.dumps(taken).encode()
        if method == b"POST" and path == b"/hold":
            self.held = True
            return 200, b"{}"
        if method == b"POST" and path == b"/release":
            self.held = False
            waiting, self.waiting = self.waiting, []
            for answer, headers, hook_body in waiting:
                answer(self.record(headers, hook_body), b"")
            return 200, json.dumps({"released": len(waiting)}).encode()
        return 404, b"{}"


class ReceiverProtocol(asyncio.Protocol):
    def __init__(self, receipts: Receipts) -> None:
        import httptools  # only the receiver process needs it

        self.receipts = receipts
        self.parser = httptools.HttpRequestParser(self)
        self.parser_error = httptools.HttpParserError
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: dict[bytes, bytes] = {}
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except self.parser_error:
            assert self.transport is not None
            self.transport.close()

    def on_message_begin(self) -> None:
        self.url, self.headers, self.body = b"", {}, []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body = b"".join(self.body)
        keep_alive = self.parser.should_keep_alive()

        def answer(status: int, content: bytes) -> None:
            assert self.transport is not None
            if self.transport.is_closing():
                return
            reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}[status]
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                % (status, reason, len(content), content)
            )
            if not keep_alive:
                self.transport.close()

        if self.url == HOOK_PATH.encode():
            self.receipts.hook(self.headers, body, answer)
        else:
            answer(*self.receipts.control(self.parser.get_method(), self.url, body))


def serve_receiver(port: int) -> None:
    import uvloop

    async def serve() -> None:
        receipts = Receipts()
        server = await asyncio.get_running_loop().create_server(
            lambda: ReceiverProtocol(receipts), HOST, port, backlog=1024
        )
        async with server:
            await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve())


class ReceiverClient:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.http = httpx.Client(base_url=f"http://{HOST}:{server.port}", timeout=60)

    def stats(self) -> dict[str, int]:
        body: dict[str, int] = expect(self.http.get("/stats"), 200)
        return body

    def set_secret(self, secret: str) -> None:
        expect(self.http.post("/secret", content=secret), 200)

    def hold(self) -> None:
        expect(self.http.post("/hold"), 200)

    def release(self) -> int:
        return int(expect(self.http.post("/release"), 200)["released"])

    def take(self) -> list[list[Any]]:
        response = self.http.post("/take")
        if response.status_code != 200:
            raise RuntimeError(f"receiver /take: {response.status_code}")
        rows: list[list[Any]] = response.json()
        return rows


# -- CPU accounting -----------------------------------------------------------------------------------------------


def parent_of(pid: int) -> int | None:
    with contextlib.suppress(OSError, IndexError, ValueError):
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])  # ppid, field 4 of stat(5)
    return None


def postmaster_pid(database_url: str) -> int | None:
    """The PostgreSQL server's main process, when it runs on this machine: the parent of our connection's backend."""

    async def parent_of_backend() -> int | None:
        connection = await asyncpg.connect(database_url)
        try:
            # Looked up while connected: the backend exits with the connection.
            return parent_of(int(await connection.fetchval("SELECT pg_backend_pid()")))
        finally:
            await connection.close()

    return asyncio.run(parent_of_backend())


def children_of(parent: int) -> list[int]:
    return [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit() and parent_of(int(e.name)) == parent]


def cpu_seconds(pids: Sequence[int], *, with_exited_children: bool = False) -> float:
    """User + system time of the processes; with their exited children's too (PostgreSQL's backends of closed
    connections, which the postmaster has reaped)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += process_cpu_seconds(pid)
            if with_exited_children:
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                # cutime and cstime are fields 16 and 17 of stat(5).
                total += (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    return total


def machine_busy_seconds() -> tuple[float, float]:
    """CPU-seconds busy and in total across all CPUs, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    ticks = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / ticks, sum(values) / ticks


@dataclass
class Processes:
    gateway: int
    workers: list[int]
    receiver: int
    postmaster: int | None

    def sample(self) -> dict[str, float]:
        busy, total = machine_busy_seconds()
        return {
            "gateway": cpu_seconds([self.gateway]),
            "workers": cpu_seconds(self.workers),
            "postgresql": (
                cpu_seconds([self.postmaster], with_exited_children=True) + cpu_seconds(children_of(self.postmaster))
                if self.postmaster
                else 0.0
            ),
            "receiver": cpu_seconds([self.receiver]),
            "injector": time.process_time(),
            "machine_busy": busy,
            "machine_total": total,
            "wall": time.monotonic(),
        }


def cpu_shares(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Each group's CPU as a share of one CPU (1.0 = one CPU all the time) over the interval."""
    wall = max(1e-9, after["wall"] - before["wall"])
    shares = {
        k: round((after[k] - before[k]) / wall, 3) for k in ("gateway", "workers", "postgresql", "receiver", "injector")
    }
    cpus = max(1e-9, (after["machine_total"] - before["machine_total"]) / wall)
    shares["machine_busy_of_all"] = round((after["machine_busy"] - before["machine_busy"]) / wall / cpus, 3)
    shares["seconds"] = round(wall, 2)
    return shares


# -- load ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    n: int
    instance: str


def text_of(tag: str, n: int, stamp: float) -> str:
    return f"{tag} {n} {stamp:.6f}"


def inbound_body(tag: str, messages: Sequence[Message], stamp: float) -> dict[str, Any]:
    return {
        "messages": [
            {"instance": m.instance, "from": SENDER_PHONE, "type": "text", "text": text_of(tag, m.n, stamp)}
            for m in messages
        ]
    }


@dataclass(frozen=True)
class InboundRequest:
    """One inbound batch as sent: when (wall clock, like the receiver's), its messages in order, how it ended."""

    sent: float
    answered: float
    numbers: tuple[int, ...]
    accepted: bool


@dataclass
class Injection:
    log: list[InboundRequest] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    error_samples: dict[str, str] = field(default_factory=dict)
    lag_ms: list[float] = field(default_factory=list)  # fixed rate: actual send time - scheduled time
    started: float = 0.0
    finished: float = 0.0

    async def post(self, client: httpx.AsyncClient, tag: str, messages: Sequence[Message], stamp: float) -> None:
        body = inbound_body(tag, messages, stamp)
        sent = time.time()
        try:
            response = await client.post("/api/sandbox/inbound/batch", json=body)
            status = str(response.status_code)
            if response.status_code != 202:
                self.error_samples.setdefault(status, response.text[:300])
        except httpx.HTTPError as exc:
            status = type(exc).__name__
            self.error_samples.setdefault(status, str(exc)[:300])
        self.log.append(InboundRequest(sent, time.time(), tuple(m.n for m in messages), status == "202"))
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def summary(self) -> dict[str, Any]:
        seconds = max(1e-9, self.finished - self.started)
        accepted = sum(len(r.numbers) for r in self.log if r.accepted)
        return {
            "requests": len(self.log),
            "messages_accepted": accepted,
            "statuses": self.statuses,
            "error_samples": self.error_samples,
            "seconds": round(seconds, 3),
            "messages_per_s": round(accepted / seconds, 1),
            "request_ms": _percentiles([(r.answered - r.sent) * 1000 for r in self.log]),
            "lag_ms": _percentiles(self.lag_ms) if self.lag_ms else None,
        }


def _client(port: int, tenant: Tenant, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(
        base_url=f"http://{HOST}:{port}", headers=tenant.headers, limits=limits, timeout=INJECT_TIMEOUT_SECONDS
    )


async def inject_burst(port: int, tenant: Tenant, tag: str, messages: Sequence[Message], batch: int) -> Injection:
    """Every message as fast as the gateway takes them: INJECT_LANES requests in flight, each lane in order."""
    injection = Injection()
    lane_of = {instance: i % INJECT_LANES for i, instance in enumerate(dict.fromkeys(m.instance for m in messages))}
    lanes: list[list[Message]] = [[] for _ in range(INJECT_LANES)]
    for message in messages:
        lanes[lane_of[message.instance]].append(message)

    async def lane(client: httpx.AsyncClient, queue: list[Message]) -> None:
        for start in range(0, len(queue), batch):
            await injection.post(client, tag, queue[start : start + batch], time.time())

    async with _client(port, tenant, INJECT_LANES) as client:
        injection.started = time.monotonic()
        await asyncio.gather(*(lane(client, queue) for queue in lanes))
        injection.finished = time.monotonic()
    return injection


async def inject_at_rate(
    port: int, tenant: Tenant, tag: str, instances: Sequence[str], rate: float, seconds: float, first_n: int
) -> tuple[Injection, int]:
    """`rate` messages a second, a batch every FIXED_TICK_SECONDS, each message stamped with its scheduled time.

    Open loop: a batch goes out on schedule whether or not the previous ones were answered (up to
    FIXED_MAX_IN_FLIGHT requests; past that the injector waits, and the wait is in the latency).
    """
    injection = Injection()
    per_tick = max(1, round(rate * FIXED_TICK_SECONDS))
    ticks = round(seconds / FIXED_TICK_SECONDS)
    counter = itertools.count(first_n)
    rotation = itertools.cycle(instances)
    in_flight = asyncio.Semaphore(FIXED_MAX_IN_FLIGHT)
    tasks: list[asyncio.Task[None]] = []

    async def post(batch: list[Message], stamp: float) -> None:
        try:
            await injection.post(client, tag, batch, stamp)
        finally:
            in_flight.release()

    async with _client(port, tenant, FIXED_MAX_IN_FLIGHT) as client:
        # The schedule starts a moment from now, on both clocks: monotonic to pace, wall time to stamp.
        zero, wall_zero = time.monotonic() + 0.1, time.time() + 0.1
        injection.started = zero
        for tick in range(ticks):
            scheduled = zero + tick * FIXED_TICK_SECONDS
            delay = scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await in_flight.acquire()
            injection.lag_ms.append(max(0.0, (time.monotonic() - scheduled) * 1000))
            batch = [Message(next(counter), next(rotation)) for _ in range(per_tick)]
            tasks.append(asyncio.create_task(post(batch, wall_zero + tick * FIXED_TICK_SECONDS)))
        await asyncio.gather(*tasks)
        injection.finished = time.monotonic()
    return injection, ticks * per_tick


def wait_received(
    receiver: ReceiverClient, expected: int, sample: Callable[[], dict[str, float]]
) -> tuple[dict[str, Any], dict[str, float]]:
    """Wait until the receiver has `expected` receipts, or nothing new came for WAIT_STALL_SECONDS.

    Also returns a CPU sample taken around the last receipt, so that a stall does not count as idle time.
    """
    started = last_change = time.monotonic()
    last, last_sample = -1, sample()
    while True:
        count = receiver.stats()["received"]
        now = time.monotonic()
        if count != last:
            if count >= expected or now - last_sample["wall"] >= 0.2:
                last_sample = sample()
            last, last_change = count, now
        if count >= expected:
            return {"complete": True, "waited_s": round(now - started, 2)}, last_sample
        if now - last_change >= WAIT_STALL_SECONDS or now - started >= WAIT_MAX_SECONDS:
            return {"complete": False, "waited_s": round(now - started, 2), "received": count}, last_sample
        time.sleep(0.05)


# -- what the receiver saw ----------------------------------------------------------------------------------------


def _percentiles(values: Sequence[float]) -> dict[str, float | None]:
    ordered = list(values)
    return {
        "p50": _round(percentile(ordered, 0.50), 2),
        "p90": _round(percentile(ordered, 0.90), 2),
        "p99": _round(percentile(ordered, 0.99), 2),
        "max": _round(max(ordered) if ordered else None, 2),
        "mean": _round(statistics.fmean(ordered) if ordered else None, 2),
    }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def parse_timestamp(value: str) -> float | None:
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def out_of_order(arrivals: dict[str, list[int]], injection: Injection) -> int:
    """Receipts that came before a message of the same instance that had to come first.

    Message a had to come before b when a's request was answered before b's was sent, or both were in one request
    and a came first in it (a batch is taken in the order given). Requests in flight together have no order.
    """
    request_of = {n: index for index, request in enumerate(injection.log) for n in request.numbers}
    found = 0
    for numbers in arrivals.values():
        earliest_answer_later = float("inf")
        lowest_later: dict[int, int] = {}  # of the receipts after this one, the lowest number of each request
        for n in reversed(numbers):
            if n not in request_of:
                continue
            index = request_of[n]
            request = injection.log[index]
            if earliest_answer_later < request.sent or lowest_later.get(index, n) < n:
                found += 1
            earliest_answer_later = min(earliest_answer_later, request.answered)
            lowest_later[index] = min(lowest_later.get(index, n), n)
    return found


def analyse(
    rows: list[list[Any]], tag: str, injection: Injection, expected: int, first_n: int, started: float
) -> dict[str, Any]:
    """Counts, order, rates and latencies of one phase's receipts (rows of other phases are counted apart).

    `started` (wall clock) is when the phase's work began: its first inbound request, or the receiver's release.
    """
    seen_ids: set[str] = set()
    first_receipt: dict[int, float] = {}
    arrivals: dict[str, list[int]] = {}
    latency_ms: list[float] = []
    inbound_to_event_ms: list[float] = []
    event_to_receiver_ms: list[float] = []
    duplicates = bad_signatures = foreign = 0
    for received, event_id, instance, text, timestamp, signature_ok in rows:
        parts = str(text).split(" ")
        if len(parts) != 3 or parts[0] != tag:
            foreign += 1
            continue
        if not signature_ok:
            bad_signatures += 1
        n, stamp = int(parts[1]), float(parts[2])
        if event_id in seen_ids or n in first_receipt:
            duplicates += 1  # the same delivery again, or the same message as a second event
            continue
        seen_ids.add(event_id)
        first_receipt[n] = received
        arrivals.setdefault(instance, []).append(n)
        latency_ms.append((received - stamp) * 1000)
        emitted = parse_timestamp(timestamp)
        if emitted is not None:
            inbound_to_event_ms.append((emitted - stamp) * 1000)
            event_to_receiver_ms.append((received - emitted) * 1000)
    times = sorted(first_receipt.values())
    result: dict[str, Any] = {
        "expected": expected,
        "received": len(first_receipt),
        "missing": len(set(range(first_n, first_n + expected)) - set(first_receipt)),
        "duplicates": duplicates,
        "out_of_order": out_of_order(arrivals, injection),
        "bad_signatures": bad_signatures,
        "receipts_of_other_phases": foreign,
        "latency_ms": _percentiles(latency_ms),
        "inbound_to_event_ms": _percentiles(inbound_to_event_ms),
        "event_to_receiver_ms": _percentiles(event_to_receiver_ms),
    }
    if times and times[-1] > started:
        # The whole pipeline's rate: every message from the first one sent to the last one received.
        result["seconds_to_last_receipt"] = round(times[-1] - started, 3)
        result["events_per_s"] = round(len(times) / (times[-1] - started), 1)
    if len(times) >= 2:
        low_index, high_index = (round(f * (len(times) - 1)) for f in WINDOW)
        window = times[high_index] - times[low_index]
        result["events_per_s_window"] = round((high_index - low_index) / window, 1) if window > 0 else None
    return result


# -- one gateway --------------------------------------------------------------------------------------------------


def phone_of(index: int) -> str:
    return f"+1415556{index:04d}"


def gateway_environment(operator_key: str, secret_key: str, data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = clean_environment(
        API_SECRET=operator_key,
        SECRET_KEY=secret_key,
        DATA_DIR=str(data_dir),
        LOG_LEVEL="WARNING",
        ENV="development",
        WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
        # The delivery-alone phase holds one request per queue while the backlog builds: it must not time out.
        WEBHOOK_TIMEOUT_SECONDS=str(HELD_TIMEOUT_SECONDS),
    )
    kept = {"SECRET_KEY", "WEBHOOK_ALLOW_PRIVATE_TARGETS", "WEBHOOK_TIMEOUT_SECONDS"}
    dropped = {*EXTRA_GATEWAY_VARIABLES, *WEBHOOK_GATEWAY_VARIABLES} - kept
    env = {k: v for k, v in env.items() if k.upper() not in dropped}
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def paired_instances(client: httpx.Client, tenant: Tenant, count: int) -> list[str]:
    """Create `count` sandbox instances, then pair each (its QR scanned) and wait until it is connected."""
    ids = []
    for index in range(count):
        created = expect(
            client.post(
                "/api/instances",
                json={"phone": phone_of(index), "provider": "sandbox", "name": f"webhooks-{index}"},
                headers=tenant.headers,
            ),
            201,
        )
        ids.append(str(created["id"]))

    def has_qr(instance_id: str) -> Callable[[], bool]:
        def check() -> bool:
            qr = client.get(f"/api/instances/{instance_id}/qr", params={"format": "json"}, headers=tenant.headers)
            return qr.status_code == 200

        return check

    for instance_id in ids:
        wait_for(has_qr(instance_id), timeout=PAIR_TIMEOUT_SECONDS, what=f"a QR for {instance_id}")
        pair(client, tenant, instance_id)
    return ids


def run_phase(
    name: str,
    receiver: ReceiverClient,
    processes: Processes,
    inject: Callable[[], tuple[Injection, int]],
    tag: str,
    first_n: int,
    *,
    held: bool = False,
) -> dict[str, Any]:
    """Inject, wait for the receiver to have every message, and look at what it got.

    `held`: the receiver holds its answers while the messages are injected and taken in (a backlog in the outbox,
    one request waiting per queue); the measured part is then delivery alone, from the release to the last receipt.
    """
    print(f"  {name} …", file=sys.stderr, flush=True)
    stray = receiver.take()  # anything left from before belongs to no phase
    if held:
        receiver.hold()
    before = processes.sample()
    injection, expected = inject()
    result: dict[str, Any] = {}
    if held:
        result["backlog_quiet_wait_s"] = wait_quiet([processes.gateway, *processes.workers])
        result["held_requests"] = receiver.stats()["waiting"]
        before = processes.sample()
        started = time.time()
        receiver.release()
    else:
        started = min((r.sent for r in injection.log), default=time.time())
    waited, after = wait_received(receiver, expected, processes.sample)
    result |= analyse(receiver.take(), tag, injection, expected, first_n, started)
    result["injection"] = injection.summary()
    result["wait"] = waited
    result["cpu"] = cpu_shares(before, after)
    result["stray_receipts_before"] = len(stray)
    return result


def bench_backend(
    backend: str, database_url: str | None, receiver_server: Server, settings: Settings, workdir: Path
) -> dict[str, Any]:
    data_dir = workdir / f"data-{backend}"
    data_dir.mkdir()
    operator_key = random_secret()
    env = gateway_environment(operator_key, random_secret(48), data_dir, database_url)
    command = [str(VENV_BIN / "wagw"), "run", "--host", HOST, "--port", str(free_port())]
    receiver = ReceiverClient(receiver_server)
    result: dict[str, Any] = {}
    try:
        with (
            running_server(f"gateway-webhooks-{backend}", command, env, data_dir, workdir) as server,
            httpx.Client(base_url=f"http://{HOST}:{server.port}", timeout=60) as client,
        ):
            tenant = new_tenant(client, operator_key)
            print(f"  {settings.instances} sandbox instances, paired …", file=sys.stderr, flush=True)
            instances = paired_instances(client, tenant, settings.instances)
            endpoint = expect(
                client.post(
                    "/api/webhooks",
                    json={
                        "url": f"http://{HOST}:{receiver_server.port}{HOOK_PATH}",
                        "event_types": ["message.received"],
                    },
                    headers=tenant.headers,
                ),
                201,
            )
            receiver.set_secret(str(endpoint["secret"]))
            workers = [worker_record(data_dir, i).pid for i in instances]
            postmaster = postmaster_pid(database_url) if database_url else None
            processes = Processes(server.pid, workers, receiver_server.pid, postmaster)
            all_pids = [server.pid, *workers]

            def burst(tag: str, first: int, count: int) -> Callable[[], tuple[Injection, int]]:
                messages = [Message(first + i, instances[i % len(instances)]) for i in range(count)]

                def inject() -> tuple[Injection, int]:
                    return asyncio.run(inject_burst(server.port, tenant, tag, messages, MAX_INBOUND_BATCH)), count

                return inject

            def fixed(first: int) -> Callable[[], tuple[Injection, int]]:
                def inject() -> tuple[Injection, int]:
                    return asyncio.run(
                        inject_at_rate(
                            server.port, tenant, "fixed", instances, settings.fixed_rate, settings.fixed_seconds, first
                        )
                    )

                return inject

            # Warm-up: every worker's spool, every queue's connection, the dispatcher's first round.
            first = 0
            result["warmup"] = run_phase(
                "warm-up", receiver, processes, burst("warmup", first, settings.warmup_events), "warmup", first
            )
            result["quiet_wait_s"] = {"before_throughput": wait_quiet(all_pids)}
            first += settings.warmup_events
            result["throughput"] = run_phase(
                f"throughput: {settings.throughput_events:,} messages as fast as possible",
                receiver,
                processes,
                burst("burst", first, settings.throughput_events),
                "burst",
                first,
            )
            result["quiet_wait_s"]["before_fixed_rate"] = wait_quiet(all_pids)
            first += settings.throughput_events
            result["fixed_rate"] = run_phase(
                f"fixed rate: {settings.fixed_rate:g} messages/s for {settings.fixed_seconds:g} s",
                receiver,
                processes,
                fixed(first),
                "fixed",
                first,
            )
            result["fixed_rate"]["rate"] = settings.fixed_rate
            result["quiet_wait_s"]["before_delivery_alone"] = wait_quiet(all_pids)
            first += result["fixed_rate"]["expected"]
            result["delivery_alone"] = run_phase(
                f"delivery alone: a backlog of {settings.backlog_events:,} messages, then the receiver answers",
                receiver,
                processes,
                burst("backlog", first, settings.backlog_events),
                "backlog",
                first,
                held=True,
            )
            deliveries = expect(
                client.get(f"/api/webhooks/{endpoint['id']}/deliveries", params={"limit": 1}, headers=tenant.headers),
                200,
            )
            result["last_delivery"] = (deliveries.get("data") or [None])[0]
            log_lines = server_log_lines(server)
            result["server_log"] = {"lines": len(log_lines), "first": log_lines[:20]}
    finally:
        result["workers_killed"] = kill_workers(data_dir)
    return result


def bench_baseline(receiver_server: Server, settings: Settings, secret: str) -> dict[str, Any]:
    """The receiver alone, at the concurrency the gateway's queues give it: with the loadgen's raw client, with the
    dispatcher's delivery client and with httpx (which deliveries used before), each sending a signed delivery of the
    gateway's shape."""
    receiver = ReceiverClient(receiver_server)
    receiver.set_secret(secret)
    body = json.dumps(
        {
            "id": "evt_baseline",
            "type": "message.received",
            "instance": "ins_baseline",
            "timestamp": "2026-01-01T00:00:00.000Z",
            "data": {"text": "baseline 0 0.0", "from": SENDER_PHONE, "type": "text"},
        },
        separators=(",", ":"),
    )
    timestamp = str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signature = base64.b64encode(hmac.new(key, f"evt_baseline.{timestamp}.{body}".encode(), hashlib.sha256).digest())
    scenario = Scenario(
        "POST",
        HOOK_PATH,
        {
            "Content-Type": "application/json",
            "webhook-id": "evt_baseline",
            "webhook-timestamp": timestamp,
            "webhook-signature": f"v1,{signature.decode()}",
        },
        expect_status=200,
        body_template=body,
    )
    runs: dict[str, Any] = {}
    for client in ("raw", "delivery", "httpx"):
        print(f"  receiver alone, {client} client …", file=sys.stderr, flush=True)
        receiver.take()
        cpu_before = process_cpu_seconds(receiver_server.pid)
        run = run_load(
            receiver_server,
            scenario,
            seconds=settings.baseline_seconds,
            max_requests=10_000_000,
            concurrency=settings.instances,
            client=client,
        )
        answered = max(1, run["ok"])
        run["receiver_cpu_ms_per_request"] = round(
            (process_cpu_seconds(receiver_server.pid) - cpu_before) * 1000 / answered, 4
        )
        run["client_cpu_ms_per_request"] = round(run["client_cpu_s"] * 1000 / answered, 4)
        rows = receiver.take()
        run["signatures_ok"] = sum(1 for r in rows if r[5])
        runs[client] = run
    return runs


# -- reporting ----------------------------------------------------------------------------------------------------


def measured(backends: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: b for name, b in backends.items() if "skipped" not in b and "throughput" in b}


def mark(value: float | None, target: float, *, at_least: bool) -> str:
    if value is None:
        return "-"
    return "PASS" if (value >= target if at_least else value <= target) else "MISS"


def judge(backends: dict[str, Any]) -> dict[str, Any]:
    verdicts: dict[str, Any] = {}
    for name, b in measured(backends).items():
        rate = b["throughput"].get("events_per_s")
        fixed = b["fixed_rate"]
        p99 = fixed["latency_ms"]["p99"] if not fixed["missing"] else None
        verdicts[name] = {
            "events_per_s": {
                "value": rate,
                "target": TARGET_EVENTS_PER_S,
                "mark": mark(rate, TARGET_EVENTS_PER_S, at_least=True),
            },
            "fixed_rate_p99_ms": {
                "value": fixed["latency_ms"]["p99"],
                "target": TARGET_FIXED_P99_MS,
                # A message that never arrived has an infinite latency: the p99 cannot pass then.
                "mark": mark(p99, TARGET_FIXED_P99_MS, at_least=False) if p99 is not None else "MISS",
            },
        }
    return verdicts


def _fmt(value: float | None, digits: int = 0, unit: str = "") -> str:
    return "-" if value is None else f"{value:,.{digits}f}{unit}"


def targets_table(results: dict[str, Any]) -> str:
    backends = measured(results["backends"])
    header = ["figure", "target"]
    for name in backends:
        header += [name, ""]
    body = []
    for key, label, target in (
        ("events_per_s", "events delivered per second, sustained", f"≥ {TARGET_EVENTS_PER_S:,.0f}/s"),
        ("fixed_rate_p99_ms", f"p99 latency at {TARGET_FIXED_RATE:g} events/s", f"≤ {TARGET_FIXED_P99_MS:g} ms"),
    ):
        row = [label, target]
        for name in backends:
            verdict = results["verdicts"][name][key]
            unit = "/s" if key == "events_per_s" else " ms"
            value = _fmt(verdict["value"], 0 if unit == "/s" else 1, unit)
            lost = backends[name]["fixed_rate"]["missing"]
            if key == "fixed_rate_p99_ms" and lost:
                value += f" ({lost:,} lost)"
            row += [value, f"**{verdict['mark']}**"]
        body.append(row)
    return markdown_table(header, body, {i for i in range(2, len(header)) if i % 2 == 0})


def phase_labels(backend: dict[str, Any]) -> list[tuple[str, str]]:
    labels = [("throughput", "throughput"), ("fixed_rate", f"{backend['fixed_rate']['rate']:g}/s fixed")]
    if "delivery_alone" in backend:
        labels.append(("delivery_alone", "delivery alone"))
    return labels


def phases_table(results: dict[str, Any]) -> str:
    header = ["backend", "phase", "injected/s", "events/s", "10-90 % /s", "received", "p50 ms", "p99 ms", "max ms"]
    header += ["inbound → event p50 / p99", "event → receiver p50 / p99", "lost", "dup", "out of order"]
    body = []
    for name, b in measured(results["backends"]).items():
        for phase, label in phase_labels(b):
            p = b[phase]
            # Held back on purpose, the backlog's latencies say nothing.
            lat, inb, out = (
                (p["latency_ms"], p["inbound_to_event_ms"], p["event_to_receiver_ms"])
                if phase != "delivery_alone"
                else ({}, {}, {})
            )
            body.append(
                [
                    name,
                    label,
                    _fmt(p["injection"]["messages_per_s"]),
                    _fmt(p.get("events_per_s")),
                    _fmt(p.get("events_per_s_window")),
                    f"{p['received']:,} of {p['expected']:,}",
                    _fmt(lat.get("p50"), 1),
                    _fmt(lat.get("p99"), 1),
                    _fmt(lat.get("max"), 0),
                    f"{_fmt(inb.get('p50'), 1)} / {_fmt(inb.get('p99'), 1)}",
                    f"{_fmt(out.get('p50'), 1)} / {_fmt(out.get('p99'), 1)}",
                    str(p["missing"]),
                    str(p["duplicates"]),
                    str(p["out_of_order"]),
                ]
            )
    return markdown_table(header, body, set(range(2, len(header))))


def cpu_table(results: dict[str, Any]) -> str:
    header = ["backend", "phase", "seconds", "gateway", "workers", "PostgreSQL", "receiver", "injector"]
    header += ["machine busy", "gateway CPU ms/event"]
    body = []
    for name, b in measured(results["backends"]).items():
        for phase, label in phase_labels(b):
            cpu = b[phase]["cpu"]
            received = max(1, b[phase]["received"])
            body.append(
                [
                    name,
                    label,
                    f"{cpu['seconds']:.1f}",
                    *(
                        "-" if k == "postgresql" and name != "postgresql" else f"{cpu[k]:.2f}"
                        for k in ("gateway", "workers", "postgresql", "receiver", "injector")
                    ),
                    f"{cpu['machine_busy_of_all'] * 100:.0f} %",
                    f"{cpu['gateway'] * cpu['seconds'] * 1000 / received:.2f}",
                ]
            )
    return markdown_table(header, body, set(range(2, len(header))))


def baseline_table(results: dict[str, Any]) -> str:
    header = ["receiver alone", "concurrency", "req/s", "p50 ms", "p99 ms", "receiver CPU ms/req", "client CPU ms/req"]
    body = [
        [
            {"raw": "raw client", "delivery": "delivery client (the dispatcher's)", "httpx": "httpx client"}[client],
            str(results["settings"]["instances"]),
            _fmt(run["requests_per_s"]),
            _fmt(run["latency_ms"]["p50"], 2),
            _fmt(run["latency_ms"]["p99"], 2),
            f"{run['receiver_cpu_ms_per_request']:.3f}",
            f"{run['client_cpu_ms_per_request']:.3f}",
        ]
        for client, run in results["baseline"].items()
    ]
    return markdown_table(header, body, set(range(1, len(header))))


PHASE_NAMES = {
    "warmup": "warm-up",
    "throughput": "throughput",
    "fixed_rate": "fixed rate",
    "delivery_alone": "delivery alone",
}


def notes(results: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for name, b in results["backends"].items():
        if "skipped" in b:
            found.append(f"{name}: not measured ({b['skipped']}).")
            continue
        if "throughput" not in b:
            found.append(f"{name}: failed before it was measured ({b.get('error', 'unknown error')}).")
            continue
        for phase, label in PHASE_NAMES.items():
            if phase not in b:
                continue
            p = b[phase]
            injection = p["injection"]
            if set(injection["statuses"]) - {"202"}:
                samples = json.dumps(injection["error_samples"])[:400]
                found.append(f"{name}, {label}: inbound statuses {injection['statuses']}; first answers: {samples}")
            if p["missing"] or p["duplicates"] or p["out_of_order"] or p["bad_signatures"]:
                found.append(
                    f"{name}, {label}: {p['missing']} messages never arrived (waited {p['wait']['waited_s']:g} s), "
                    f"{p['duplicates']} duplicates, {p['out_of_order']} out of order, {p['bad_signatures']} bad "
                    f"signatures."
                )
        fixed = b["fixed_rate"]
        lag = fixed["injection"]["lag_ms"]
        if lag and lag["p99"] is not None and lag["p99"] > FIXED_TICK_SECONDS * 1000:
            found.append(
                f"{name}, fixed rate: the injector fell behind its schedule (lag p99 {lag['p99']:.0f} ms, max "
                f"{lag['max']:.0f} ms) when {FIXED_MAX_IN_FLIGHT} batches were waiting for their answers at once; "
                f"the lag is in the latency."
            )
        if b["server_log"]["lines"]:
            found.append(
                f"{name}: the gateway logged {b['server_log']['lines']} warning or error lines; the first: "
                f"`{b['server_log']['first'][0][:300]}`"
            )
    if results["cpu_busy_before_percent"] >= 20:
        found.append(
            f"The machine was {results['cpu_busy_before_percent']:.0f} % busy with other work just before this run, "
            f"so these figures are likely low; run the benchmark again on a quiet machine."
        )
    if not found:
        found.append(
            "Every message arrived exactly once, in order per instance, with a valid signature; every inbound batch "
            "was accepted, and the gateway logged no warning or error."
        )
    return found


def render_section(results: dict[str, Any]) -> str:
    machine, git, settings = results["machine"], results["git"], results["settings"]
    commit = f"`{(git['commit'] or 'unknown')[:10]}`" + (" (with uncommitted changes)" if git["dirty"] else "")
    postgres = f"PostgreSQL {results['postgresql_version']}, " if results.get("postgresql_version") else ""
    lines = [
        START_MARKER,
        "<!-- Generated by `make bench` (bench/bench_webhooks.py) from bench/results/webhooks.json; "
        "edits here are lost. -->",
        "",
        f"Measured {results['date'][:16].replace('T', ' ')} UTC at commit {commit}"
        f"{' with `--quick`' if results['quick'] else ''} on {machine['cpu_model']}, {machine['cpu_count']} CPUs, "
        f"{machine['memory_gib']} GiB ({machine['platform']}); Python {machine['python']}; {postgres}SQLite "
        f"{machine['sqlite']}. {settings['instances']} paired sandbox instances, one webhook endpoint; throughput "
        f"phase {settings['throughput_events']:,} messages after a warm-up of {settings['warmup_events']:,}; fixed "
        f"rate {settings['fixed_rate']:g} messages/s for {settings['fixed_seconds']:g} s. Gateway, "
        f"{settings['instances']} workers, database, receiver and injector share the {machine['cpu_count']} CPUs; in "
        f"the second before the run the CPUs were {results['cpu_busy_before_percent']:.0f} % busy with other work. "
        f"The whole run took {results['duration_s']:.0f} s.",
        "",
        targets_table(results),
        "",
        phases_table(results),
        "",
        f"CPU used during each phase, in CPUs (1.00 = one CPU all the time; the machine has {machine['cpu_count']}):",
        "",
        cpu_table(results),
        "",
        baseline_table(results),
        "",
        *(f"- {note}" for note in notes(results)),
        END_MARKER,
    ]
    return "\n".join(lines)


def write_docs(section: str) -> None:
    replace_docs_section(DOCS, section, start_marker=START_MARKER, end_marker=END_MARKER, intro=INTRO)


# -- main ---------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def running_receiver(workdir: Path) -> Iterator[Server]:
    port = free_port()
    command = [sys.executable, "-m", "bench.bench_webhooks", "receiver", "--port", str(port)]
    with running_server("receiver", command, clean_environment(), ROOT, workdir) as server:
        yield server


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["receiver"]:
        receiver_parser = argparse.ArgumentParser(description="The benchmark's webhook receiver.")
        receiver_parser.add_argument("--port", type=int, required=True)
        serve_receiver(receiver_parser.parse_args(argv[1:]).port)
        return 0
    parser = argparse.ArgumentParser(description="Webhook delivery end to end: events/s and latency.")
    parser.add_argument("--quick", action="store_true", help="Fewer messages and shorter phases (about two minutes).")
    parser.add_argument("--backends", default="sqlite,postgresql", help="Comma-separated: sqlite, postgresql.")
    parser.add_argument("--instances", type=int, default=16, help="Paired sandbox instances (webhook queues).")
    parser.add_argument("--events", type=int, help="Messages in the throughput phase (default 20,000; 3,000 quick).")
    parser.add_argument("--backlog", type=int, help="Messages held back for the delivery-alone phase (default 6,000).")
    parser.add_argument("--seconds", type=float, help="Length of the fixed-rate phase (default 30, 10 with --quick).")
    parser.add_argument("--rate", type=float, default=TARGET_FIXED_RATE, help="Messages/s of the fixed-rate phase.")
    parser.add_argument("--no-docs", action="store_true", help="Do not rewrite docs/benchmarks.md.")
    args = parser.parse_args(argv)
    settings = Settings(
        instances=args.instances,
        throughput_events=args.events or (3_000 if args.quick else 20_000),
        fixed_rate=args.rate,
        fixed_seconds=args.seconds or (10.0 if args.quick else 30.0),
        warmup_events=args.instances * 20,
        backlog_events=args.backlog or (1_500 if args.quick else 6_000),
        baseline_seconds=3.0 if args.quick else 5.0,
    )
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not set(backends) <= {"sqlite", "postgresql"}:
        parser.error("--backends takes sqlite and/or postgresql")

    started = time.monotonic()
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine_info(),
        "git": git_commit(),
        "settings": asdict(settings),
        "targets": {
            "events_per_s_at_least": TARGET_EVENTS_PER_S,
            "fixed_rate": TARGET_FIXED_RATE,
            "fixed_rate_p99_ms_at_most": TARGET_FIXED_P99_MS,
            "backend": "postgresql",
        },
        "cpu_busy_before_percent": cpu_busy_percent(),
        "backends": {},
    }
    with tempfile.TemporaryDirectory(prefix="wagw-bench-webhooks-") as tmp:
        workdir = Path(tmp)
        with running_receiver(workdir) as receiver_server:
            print("receiver alone (baseline)", file=sys.stderr, flush=True)
            results["baseline"] = bench_baseline(
                receiver_server, settings, "whsec_" + base64.b64encode(os.urandom(24)).decode()
            )
            for backend in backends:
                print(f"gateway, workers and webhooks on {backend}", file=sys.stderr, flush=True)
                if backend == "sqlite":
                    results["backends"][backend] = bench_backend(backend, None, receiver_server, settings, workdir)
                    continue
                try:
                    with postgres_database() as (database_url, version):
                        results["postgresql_version"] = version
                        results["backends"][backend] = bench_backend(
                            backend, database_url, receiver_server, settings, workdir
                        )
                except PostgresUnavailable as exc:
                    print(f"bench: PostgreSQL skipped: {exc}", file=sys.stderr)
                    results["backends"][backend] = {"skipped": str(exc)}
            receiver_log = server_log_lines(receiver_server)
            results["receiver_log"] = {"lines": len(receiver_log), "first": receiver_log[:20]}
    results["duration_s"] = round(time.monotonic() - started, 1)
    results["verdicts"] = judge(results["backends"])

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    section = render_section(results)
    if not args.no_docs:
        write_docs(section)
    print()
    print("\n\n".join([targets_table(results), phases_table(results), cpu_table(results), baseline_table(results)]))
    print()
    for note in notes(results):
        print(f"- {note}")
    print(f"\n{results['duration_s']:.0f} s; results in {RESULTS.relative_to(ROOT)}", end="")
    print("" if args.no_docs else f" and {DOCS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
