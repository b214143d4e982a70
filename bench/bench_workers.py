"""Sandbox workers: create → QR time, idle memory, and a send through the gateway next to one straight to the worker.

Run with `make bench` (after the API benchmark) or alone with `python -m bench.bench_workers [--quick]`. Every process
is real: the gateway as `wagw run`, and one `python -m sandbox_worker` per instance, started by the gateway's local
runtime. Workers outlive the gateway by design, so the bench kills each one it caused (the pids in
`DATA_DIR/instances/<id>/worker.json`, whole process group, SIGKILL). Results go to bench/results/workers.json and to
the generated section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
import httpx
from tests.support.postgres import PostgresUnavailable, postgres_server

from bench.bench_api import (
    HOST,
    PhoneBlocks,
    Server,
    clean_environment,
    cpu_busy_percent,
    create_database,
    drop_database,
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
from bench.loadgen import PHONE_TOKEN, Scenario
from whatsapp_gateway.provider.tokens import worker_token

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results" / "workers.json"
DOCS = ROOT / "docs" / "benchmarks.md"
START_MARKER = "<!-- bench_workers:start -->"
END_MARKER = "<!-- bench_workers:end -->"

# Targets: a figure passes when it is at most its target.
TARGET_QR_P95_S = 1.5
TARGET_IDLE_RSS_MB = 40.0
TARGET_GATEWAY_ADDED_P50_MS = 3.0

QR_POLL_SECONDS = 0.01
QR_TIMEOUT_SECONDS = 30.0
PAIR_TIMEOUT_SECONDS = 30.0
QUIET_CPU_FRACTION = 0.05  # the gateway and both workers together below 5 % of one CPU
QUIET_SAMPLE_SECONDS = 0.5
QUIET_TIMEOUT_SECONDS = 30.0
MAX_REQUESTS = 1_000_000
STALL_MS = 1000.0  # a request this slow is noted
TEXT = "benchmark message"

# Besides the API benchmark's list: settings the gateway reads that must not leak in from the shell.
EXTRA_GATEWAY_VARIABLES = (
    "SECRET_KEY",
    "INTERNAL_URL",
    "RECONCILER_ENABLED",
    "RECONCILE_INTERVAL_SECONDS",
    "WORKER_STOP_GRACE_SECONDS",
    "RESTART_BACKOFF_MAX_SECONDS",
    "MEDIA_MAX_BYTES",
    "DOCUMENT_MAX_BYTES",
)

INTRO = """\
## Sandbox workers: start-up, memory, and the send path

Run it with `make bench` (it runs after the API benchmark) or alone with `python -m bench.bench_workers` (add
`--quick` for shorter phases and fewer instances). Like the API benchmark it needs PostgreSQL's binaries or
`WAGW_TEST_POSTGRES_URL`; without them only SQLite is measured. Raw results, with every sample, status and CPU
reading, are in `bench/results/workers.json`.

What is measured, with the real gateway (`wagw run`, `LOG_LEVEL=WARNING`) and real `sandbox` workers on 127.0.0.1,
once on SQLite (the embedded default, the figures the targets are judged on) and once on PostgreSQL:

- **Instance create → QR**: instances are created one after another, each with a new phone number; the time runs
  from the `201` of `POST /api/instances` to the first `200` of `GET /api/instances/{id}/qr?format=json`, polled
  every 10 ms. It covers the reconciler noticing the instance, the worker process starting (a Python interpreter and
  its imports), its `worker.ready` event, its hub connection and its first QR.
- **Idle memory**: some of those instances are then paired (a QR scanned through `POST /api/sandbox/scan`), every
  worker is left idle for a few seconds, and `VmRSS` is read from `/proc/<pid>/status` of each worker (pids from
  `worker.json`). RSS counts shared pages (the interpreter, shared libraries) in full for every worker; the
  proportional share (`Pss`, from `/proc/<pid>/smaps_rollup`) is shown next to it as what one more worker costs.
- **Send path**: two paired sandbox instances A and B; A sends text messages to B by two paths in the same run,
  (a) through the gateway, `POST /api/instances/{A}/messages` with a tenant key, and (b) straight to A's worker,
  `POST /v1/messages` with the worker token (derived from the gateway's `SECRET_KEY`) and a new message `id` each
  time. Both end at the same sandbox hub inside the gateway, so path (a) is path (b) plus the gateway's API: key
  lookup, instance lookup, the message row committed as `queued`, the call to the worker, the row updated to
  `sent`. **Gateway-added p50** is p50(a) - p50(b) at concurrency 1. The load is the API benchmark's closed-loop
  client (`bench/loadgen.py`, keep-alive connections, each sending its next request as soon as the answer arrives),
  at concurrency 1 (latency) and a higher concurrency (throughput); each phase has a warm-up, then one measured run
  of a fixed time. Before each phase the bench waits until the gateway and both workers are idle (the previous
  phase's deliveries, receipts and events are processed in the background), up to 30 s.
- *CPU ms/req* is the CPU time (user + system, all threads, from `/proc/<pid>/stat`) of a process over the measured
  run, divided by the requests answered. On path (b) the gateway still works: it serves the worker's hub call and
  then the events and receipts that every message causes (B's `message.received`, A's `message.status`).

Caveats:

- Client, gateway, workers and (for PostgreSQL) the database share the machine's cores; at higher concurrency the
  figures are CPU-bound and measure the machine as much as the code. Background work that a send causes (delivery to
  B, receipts, events) runs during later requests and is part of what both paths pay.
- Latency figures in a closed loop at concurrency 1 are one request at a time, so p50 there is a real round-trip
  time; at higher concurrency p50 is mostly queueing (≈ concurrency ÷ req/s) and p99 is indicative only.
- One measured run per phase: req/s moves by 10-30 % between runs on a small shared machine; the concurrency-1 p50
  values, taken over thousands of requests, move much less. Compare rows of one run.
"""


@dataclass(frozen=True)
class Settings:
    instances: int
    paired: int
    idle_seconds: float
    seconds: float
    warmup_seconds: float
    concurrencies: tuple[int, ...]


@dataclass(frozen=True)
class Tenant:
    id: str
    headers: dict[str, str]


@dataclass(frozen=True)
class WorkerRecord:
    pid: int
    epoch: int


# -- helpers ----------------------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest rank, as bench/loadgen.py computes latency percentiles."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))]


def worker_record(data_dir: Path, instance_id: str) -> WorkerRecord:
    raw = json.loads((data_dir / "instances" / instance_id / "worker.json").read_text())
    return WorkerRecord(int(raw["pid"]), int(raw["epoch"]))


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def kill_workers(data_dir: Path) -> int:
    """SIGKILL the process group of every worker recorded under `data_dir`; returns how many were alive."""
    killed = 0
    for record in (data_dir / "instances").glob("*/worker.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            pid = int(json.loads(record.read_text())["pid"])
            if pid_alive(pid):
                # Workers lead their own process group (the local runtime starts them with start_new_session).
                os.killpg(pid, signal.SIGKILL)
                killed += 1
    return killed


def memory_kib(pid: int) -> dict[str, int | None]:
    """VmRSS and VmHWM from /proc/<pid>/status, Pss from /proc/<pid>/smaps_rollup, in KiB."""
    found: dict[str, int | None] = {"rss_kib": None, "hwm_kib": None, "pss_kib": None}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                found["rss_kib"] = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                found["hwm_kib"] = int(line.split()[1])
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                found["pss_kib"] = int(line.split()[1])
    return found


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += process_cpu_seconds(pid)
    return total


def wait_quiet(pids: list[int]) -> float:
    """Wait until the processes together use under QUIET_CPU_FRACTION of a CPU; returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < QUIET_TIMEOUT_SECONDS:
        before = cpu_of(pids)
        time.sleep(QUIET_SAMPLE_SECONDS)
        if (cpu_of(pids) - before) / QUIET_SAMPLE_SECONDS < QUIET_CPU_FRACTION:
            break
    return round(time.monotonic() - started, 2)


def expect(response: httpx.Response, status: int) -> dict[str, Any]:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:500]}"
        )
    body: dict[str, Any] = response.json() if response.content else {}
    return body


def wait_for(check: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")


# -- the gateway ------------------------------------------------------------------------------------------------


def new_tenant(client: httpx.Client, operator_key: str) -> Tenant:
    operator = {"Authorization": f"Bearer {operator_key}"}
    tenant = expect(
        client.post("/api/tenants", json={"name": "Bench", "email": "bench@example.com"}, headers=operator), 201
    )
    key = expect(client.post(f"/api/tenants/{tenant['id']}/keys", json={"name": "bench"}, headers=operator), 201)
    return Tenant(str(tenant["id"]), {"Authorization": f"Bearer {key['key']}"})


def phone_of(index: int) -> str:
    return f"+1415555{index:04d}"


def measure_startup(client: httpx.Client, tenant: Tenant, count: int) -> tuple[list[str], dict[str, Any]]:
    """Create `count` instances one after another; for each, the time from the 201 to the first QR."""
    ids: list[str] = []
    samples: list[float] = []
    polls: list[int] = []
    statuses: dict[str, int] = {}
    failures: list[str] = []
    for index in range(count):
        created = expect(
            client.post(
                "/api/instances",
                json={"phone": phone_of(index), "provider": "sandbox", "name": f"bench-{index}"},
                headers=tenant.headers,
            ),
            201,
        )
        started = time.perf_counter()
        instance_id = str(created["id"])
        ids.append(instance_id)
        tries = 0
        while True:
            tries += 1
            response = client.get(f"/api/instances/{instance_id}/qr", params={"format": "json"}, headers=tenant.headers)
            if response.status_code == 200:
                samples.append(time.perf_counter() - started)
                polls.append(tries)
                break
            code = response.json().get("code", "") if response.content else ""
            seen = f"{response.status_code} {code}".strip()
            statuses[seen] = statuses.get(seen, 0) + 1
            if time.perf_counter() - started > QR_TIMEOUT_SECONDS:
                # Kept as a sample (a lower bound), so that missing QRs count against the percentiles.
                samples.append(time.perf_counter() - started)
                failures.append(f"{instance_id}: no QR after {QR_TIMEOUT_SECONDS:g} s (last: {seen})")
                break
            time.sleep(QR_POLL_SECONDS)
    return ids, {
        "instances": count,
        "samples_s": [round(s, 4) for s in samples],
        "p50_s": _round(percentile(samples, 0.50), 4),
        "p95_s": _round(percentile(samples, 0.95), 4),
        "max_s": _round(max(samples) if samples else None, 4),
        "min_s": _round(min(samples) if samples else None, 4),
        "polls_median": statistics.median(polls) if polls else None,
        "statuses_before_qr": statuses,
        "failures": failures,
    }


def pair(client: httpx.Client, tenant: Tenant, instance_id: str) -> None:
    qr = expect(client.get(f"/api/instances/{instance_id}/qr", params={"format": "json"}, headers=tenant.headers), 200)
    expect(client.post("/api/sandbox/scan", json={"qr": qr["qr"]}, headers=tenant.headers), 200)

    def connected() -> bool:
        found = expect(client.get(f"/api/instances/{instance_id}", headers=tenant.headers), 200)
        return bool(found["connection_state"] == "connected")

    wait_for(connected, timeout=PAIR_TIMEOUT_SECONDS, what=f"{instance_id} to be connected")


def measure_memory(
    client: httpx.Client, tenant: Tenant, data_dir: Path, ids: list[str], idle_seconds: float
) -> dict[str, Any]:
    time.sleep(idle_seconds)
    workers: list[dict[str, Any]] = []
    for instance_id in ids:
        state = expect(client.get(f"/api/instances/{instance_id}", headers=tenant.headers), 200)["connection_state"]
        pid = worker_record(data_dir, instance_id).pid
        workers.append({"instance": instance_id, "connection_state": state, "pid": pid, **memory_kib(pid)})
    groups: dict[str, Any] = {}
    for group, states in (("unpaired", ("qr",)), ("connected", ("connected",))):
        members = [w for w in workers if w["connection_state"] in states and w["rss_kib"] is not None]
        rss = [w["rss_kib"] / 1024 for w in members]
        pss = [w["pss_kib"] / 1024 for w in members if w["pss_kib"] is not None]
        groups[group] = {
            "workers": len(members),
            "rss_mb_median": _round(statistics.median(rss) if rss else None, 1),
            "rss_mb_max": _round(max(rss) if rss else None, 1),
            "pss_mb_median": _round(statistics.median(pss) if pss else None, 1),
        }
    others = sorted({str(w["connection_state"]) for w in workers} - {"qr", "connected"})
    return {"idle_seconds": idle_seconds, **groups, "other_states": others, "workers": workers}


def worker_address(database_url: str | None, data_dir: Path, instance_id: str) -> str:
    """The address the control plane stored from the worker's `worker.ready` event."""
    query = "SELECT worker_address FROM instances WHERE id = $1"
    if database_url is None:
        with contextlib.closing(sqlite3.connect(f"file:{data_dir / 'gateway.db'}?mode=ro", uri=True)) as db:
            row = db.execute(query.replace("$1", "?"), (instance_id,)).fetchone()
        address = row[0] if row else None
    else:

        async def fetch() -> Any:
            connection = await asyncpg.connect(database_url)
            try:
                return await connection.fetchval(query, instance_id)
            finally:
                await connection.close()

        address = asyncio.run(fetch())
    if not address:
        raise RuntimeError(f"no worker address stored for {instance_id}")
    return str(address)


# -- the send path ----------------------------------------------------------------------------------------------


def send_scenarios(key_headers: dict[str, str], a_id: str, b_phone: str, token: str, epoch: int) -> dict[str, Scenario]:
    json_type = {"Content-Type": "application/json"}
    return {
        "gateway": Scenario(
            "POST",
            f"/api/instances/{a_id}/messages",
            {**key_headers, **json_type},
            expect_status=202,
            body_template=json.dumps({"to": b_phone, "type": "text", "text": TEXT}),
        ),
        # `{phone}` is the load generator's unique-per-request token: here it makes each message id new.
        "worker": Scenario(
            "POST",
            "/v1/messages",
            {"Authorization": f"Bearer {token}", "X-Worker-Epoch": str(epoch), **json_type},
            expect_status=202,
            body_template=json.dumps({"id": f"bench_{PHONE_TOKEN}", "to": b_phone, "type": "text", "text": TEXT}),
        ),
    }


def measure_send(
    gateway: Server,
    worker: Server,
    scenarios: dict[str, Scenario],
    pids: dict[str, int],
    settings: Settings,
    blocks: PhoneBlocks,
) -> dict[str, Any]:
    targets = {"gateway": gateway, "worker": worker}
    phases: dict[str, Any] = {}
    for concurrency in settings.concurrencies:
        for path in ("worker", "gateway"):
            name = f"{path} c={concurrency}"
            print(f"  send: {name} …", file=sys.stderr, flush=True)
            scenario = scenarios[path]
            quiet_before_warmup = wait_quiet(list(pids.values()))
            warmup = run_load(
                targets[path],
                Scenario(**{**asdict(scenario), "phone_block": blocks.take()}),
                seconds=settings.warmup_seconds,
                max_requests=MAX_REQUESTS,
                concurrency=concurrency,
            )
            quiet_before_run = wait_quiet(list(pids.values()))
            cpu_before = {role: cpu_of([pid]) for role, pid in pids.items()}
            result = run_load(
                targets[path],
                Scenario(**{**asdict(scenario), "phone_block": blocks.take()}),
                seconds=settings.seconds,
                max_requests=MAX_REQUESTS,
                concurrency=concurrency,
            )
            answered = max(1, result["ok"])
            result["cpu_ms_per_request"] = {
                role: round((cpu_of([pid]) - cpu_before[role]) * 1000 / answered, 4) for role, pid in pids.items()
            }
            result["quiet_wait_s"] = {"before_warmup": quiet_before_warmup, "before_run": quiet_before_run}
            result["warmup"] = {k: warmup[k] for k in ("requests", "errors", "statuses", "error_samples")}
            result["path"], result["concurrency"] = path, concurrency
            phases[name] = result
    return phases


# -- one gateway ------------------------------------------------------------------------------------------------


def bench_backend(
    backend: str, database_url: str | None, settings: Settings, blocks: PhoneBlocks, workdir: Path
) -> dict[str, Any]:
    data_dir = workdir / f"data-{backend}"
    data_dir.mkdir()
    operator_key, secret_key = random_secret(), random_secret(48)
    env = clean_environment(
        API_SECRET=operator_key, SECRET_KEY=secret_key, DATA_DIR=str(data_dir), LOG_LEVEL="WARNING", ENV="development"
    )
    env = {k: v for k, v in env.items() if k.upper() not in EXTRA_GATEWAY_VARIABLES or k == "SECRET_KEY"}
    if database_url:
        env["DATABASE_URL"] = database_url
    port = free_port()
    command = [str(VENV_BIN / "wagw"), "run", "--host", HOST, "--port", str(port)]
    result: dict[str, Any] = {}
    try:
        with (
            running_server(f"gateway-workers-{backend}", command, env, data_dir, workdir) as server,
            httpx.Client(base_url=f"http://{HOST}:{server.port}", timeout=30) as client,
        ):
            tenant = new_tenant(client, operator_key)
            print(f"  {settings.instances} instances, create → QR …", file=sys.stderr, flush=True)
            ids, result["startup"] = measure_startup(client, tenant, settings.instances)
            print(f"  pairing {settings.paired}, idle {settings.idle_seconds:g} s, memory …", file=sys.stderr)
            for instance_id in ids[: settings.paired]:
                pair(client, tenant, instance_id)
            result["memory"] = measure_memory(client, tenant, data_dir, ids, settings.idle_seconds)

            a_id, b_id = ids[0], ids[1]
            a_record, b_record = worker_record(data_dir, a_id), worker_record(data_dir, b_id)
            address = worker_address(database_url, data_dir, a_id)
            host, _, worker_port = address.rpartition(":")
            if host.strip("[]") != HOST:
                raise RuntimeError(f"worker A listens on {address}, not on {HOST}")
            worker = Server(f"worker-{a_id}", int(worker_port), a_record.pid, data_dir / "instances" / a_id)
            token = worker_token(secret_key.encode(), a_id, a_record.epoch)
            b_phone = phone_of(1).lstrip("+")
            scenarios = send_scenarios(tenant.headers, a_id, b_phone, token, a_record.epoch)
            # One request by each path before any load: both must be accepted, or the figures mean nothing.
            direct = httpx.post(
                f"http://{address}/v1/messages",
                json={"id": "bench_check", "to": b_phone, "type": "text", "text": TEXT},
                headers=scenarios["worker"].headers,
            )
            via = client.post(
                f"/api/instances/{a_id}/messages",
                json={"to": b_phone, "type": "text", "text": TEXT},
                headers=tenant.headers,
            )
            result["send_check"] = {"worker": expect(direct, 202), "gateway": expect(via, 202)}
            pids = {"gateway": server.pid, "worker_a": a_record.pid, "worker_b": b_record.pid}
            result["send"] = measure_send(server, worker, scenarios, pids, settings, blocks)
            c1 = result["send"].get("gateway c=1"), result["send"].get("worker c=1")
            if c1[0] and c1[1] and c1[0]["latency_ms"]["p50"] is not None and c1[1]["latency_ms"]["p50"] is not None:
                result["gateway_added_p50_ms"] = round(c1[0]["latency_ms"]["p50"] - c1[1]["latency_ms"]["p50"], 3)
            result["memory_after_load"] = {
                "worker_a": memory_kib(a_record.pid),
                "worker_b": memory_kib(b_record.pid),
                "gateway": memory_kib(server.pid),
            }
            # Read before the gateway stops: at shutdown the workers' open long polls are cancelled, and logged.
            log_lines = server_log_lines(server)
            result["server_log"] = {"lines": len(log_lines), "first": log_lines[:20]}
    finally:
        result["workers_killed"] = kill_workers(data_dir)
    return result


# -- reporting --------------------------------------------------------------------------------------------------


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def mark(value: float | None, target: float) -> str:
    if value is None:
        return "-"
    return "PASS" if value <= target else "MISS"


def target_rows(backends: dict[str, Any]) -> list[tuple[str, str, Callable[[dict[str, Any]], float | None], float]]:
    return [
        ("instance create → QR, p95", "≤ 1.5 s", lambda b: b["startup"]["p95_s"], TARGET_QR_P95_S),
        (
            "idle RSS of an unpaired (qr) worker, max",
            "≤ 40 MB",
            lambda b: b["memory"]["unpaired"]["rss_mb_max"],
            TARGET_IDLE_RSS_MB,
        ),
        (
            "idle RSS of a connected worker, max",
            "≤ 40 MB",
            lambda b: b["memory"]["connected"]["rss_mb_max"],
            TARGET_IDLE_RSS_MB,
        ),
        (
            "gateway-added p50 at concurrency 1",
            "≤ 3 ms",
            lambda b: b.get("gateway_added_p50_ms"),
            TARGET_GATEWAY_ADDED_P50_MS,
        ),
    ]


def measured(backends: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: b for name, b in backends.items() if "skipped" not in b}


def judge(backends: dict[str, Any]) -> dict[str, Any]:
    verdicts: dict[str, Any] = {}
    for label, target_text, get, target in target_rows(backends):
        verdicts[label] = {
            "target": target_text,
            **{name: {"value": get(b), "mark": mark(get(b), target)} for name, b in measured(backends).items()},
        }
    return verdicts


def markdown_table(header: list[str], body: list[list[str]], numeric: set[int]) -> str:
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [
            c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * (w - 1) + ":" if i in numeric else "-" * w for i, w in enumerate(widths)]
    return "\n".join([line(header), "| " + " | ".join(rule) + " |", *(line(r) for r in body)])


def _fmt(value: float | None, unit: str, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f} {unit}"


def targets_table(results: dict[str, Any]) -> str:
    backends = measured(results["backends"])
    header = ["figure", "target"]
    for name in backends:
        header += [name, ""]
    units = {"≤ 1.5 s": ("s", 2), "≤ 40 MB": ("MB", 1), "≤ 3 ms": ("ms", 2)}
    body = []
    for label, target_text, _, _ in target_rows(backends):
        row = [label, target_text]
        for name in backends:
            verdict = results["verdicts"][label][name]
            unit, digits = units[target_text]
            row += [_fmt(verdict["value"], unit, digits), f"**{verdict['mark']}**"]
        body.append(row)
    return markdown_table(header, body, {i for i in range(2, len(header)) if i % 2 == 0})


def details_table(results: dict[str, Any]) -> str:
    header = ["backend", "create → QR p50", "p95", "max", "workers idle (qr / connected)", "RSS median", "RSS max"]
    header += ["PSS median"]
    body = []
    for name, b in measured(results["backends"]).items():
        s, m = b["startup"], b["memory"]
        for group in ("unpaired", "connected"):
            g = m[group]
            first = group == "unpaired"
            body.append(
                [
                    name if first else "",
                    _fmt(s["p50_s"], "s") if first else "",
                    _fmt(s["p95_s"], "s") if first else "",
                    _fmt(s["max_s"], "s") if first else "",
                    f"{g['workers']} {'qr' if first else 'connected'}",
                    _fmt(g["rss_mb_median"], "MB", 1),
                    _fmt(g["rss_mb_max"], "MB", 1),
                    _fmt(g["pss_mb_median"], "MB", 1),
                ]
            )
    return markdown_table(header, body, {1, 2, 3, 5, 6, 7})


def send_table(results: dict[str, Any]) -> str:
    header = ["backend", "path", "concurrency", "req/s", "p50 ms", "p99 ms", "errors"]
    header += ["gateway CPU ms/req", "worker A CPU ms/req", "worker B CPU ms/req"]
    body = []
    for name, b in measured(results["backends"]).items():
        for phase in b["send"].values():
            cpu = phase["cpu_ms_per_request"]
            body.append(
                [
                    name,
                    "(a) gateway" if phase["path"] == "gateway" else "(b) worker",
                    str(phase["concurrency"]),
                    f"{phase['requests_per_s']:,.0f}",
                    _fmt(phase["latency_ms"]["p50"], "").strip(),
                    _fmt(phase["latency_ms"]["p99"], "").strip(),
                    str(phase["errors"]),
                    f"{cpu['gateway']:.3f}",
                    f"{cpu['worker_a']:.3f}",
                    f"{cpu['worker_b']:.3f}",
                ]
            )
    return markdown_table(header, body, set(range(2, len(header))))


def notes(results: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for name, b in results["backends"].items():
        if "skipped" in b:
            found.append(f"{name}: not measured ({b['skipped']}).")
            continue
        c1 = {p: b["send"].get(f"{p} c=1") for p in ("gateway", "worker")}
        if c1["gateway"] and c1["worker"]:
            g, w = c1["gateway"], c1["worker"]
            found.append(
                f"{name}: at concurrency 1 a send took {g['latency_ms']['p50']:.2f} ms (p50) through the gateway and "
                f"{w['latency_ms']['p50']:.2f} ms straight to the worker; the gateway process spent "
                f"{g['cpu_ms_per_request']['gateway']:.2f} ms of CPU per request on path (a) and "
                f"{w['cpu_ms_per_request']['gateway']:.2f} ms on path (b) (hub call, events, receipts)."
            )
        s = b["startup"]
        if s["failures"]:
            found.append(f"{name}: {len(s['failures'])} instances showed no QR in time: {s['failures'][:3]}")
        if b["memory"]["other_states"]:
            found.append(f"{name}: some workers were in other states when measured: {b['memory']['other_states']}")
        for phase_name, phase in b["send"].items():
            if phase["errors"] or phase["warmup"]["errors"]:
                samples = json.dumps({**phase["warmup"]["error_samples"], **phase["error_samples"]})[:400]
                found.append(f"{name}, {phase_name}: statuses {phase['statuses']}; first answers: {samples}")
            latency = phase["latency_ms"]
            if latency["max"] is not None and latency["max"] >= STALL_MS:
                found.append(
                    f"{name}, {phase_name}: at least one request stalled ({latency['max']:,.0f} ms, p50 "
                    f"{latency['p50']:.1f} ms); req/s and p99 of this row are dominated by it."
                )
            waited = phase["quiet_wait_s"]["before_run"]
            if waited >= QUIET_TIMEOUT_SECONDS:
                found.append(f"{name}, {phase_name}: the processes were still busy after {waited:g} s of waiting.")
        if b["server_log"]["lines"]:
            found.append(
                f"{name}: the gateway logged {b['server_log']['lines']} warning or error lines; the first: "
                f"`{b['server_log']['first'][0][:300]}`"
            )
    if results["cpu_busy_before_percent"] >= 20:
        found.append(
            f"The machine was {results['cpu_busy_before_percent']:.0f} % busy with other work just before this run, "
            f"so these figures are likely off; run the benchmark again on a quiet machine."
        )
    return found


def render_section(results: dict[str, Any]) -> str:
    machine, git, settings = results["machine"], results["git"], results["settings"]
    commit = f"`{(git['commit'] or 'unknown')[:10]}`" + (" (with uncommitted changes)" if git["dirty"] else "")
    postgres = f"PostgreSQL {results['postgresql_version']}, " if results.get("postgresql_version") else ""
    concurrencies = " and ".join(str(c) for c in settings["concurrencies"])
    lines = [
        START_MARKER,
        "<!-- Generated by `make bench` (bench/bench_workers.py) from bench/results/workers.json; "
        "edits here are lost. -->",
        "",
        f"Measured {results['date'][:16].replace('T', ' ')} UTC at commit {commit}"
        f"{' with `--quick`' if results['quick'] else ''} on {machine['cpu_model']}, {machine['cpu_count']} CPUs, "
        f"{machine['memory_gib']} GiB ({machine['platform']}); Python {machine['python']}; {postgres}SQLite "
        f"{machine['sqlite']}. {settings['instances']} instances created one after another, the first "
        f"{settings['paired']} paired, {settings['idle_seconds']:g} s idle before memory was read; sends at "
        f"concurrency {concurrencies}, each phase a {settings['warmup_seconds']:g} s warm-up then "
        f"{settings['seconds']:g} s measured. Client, gateway, workers and database share the "
        f"{machine['cpu_count']} CPUs; in the second before the run the CPUs were "
        f"{results['cpu_busy_before_percent']:.0f} % busy with other work. The whole run took "
        f"{results['duration_s']:.0f} s.",
        "",
        targets_table(results),
        "",
        details_table(results),
        "",
        send_table(results),
        "",
        *(f"- {note}" for note in notes(results)),
        END_MARKER,
    ]
    return "\n".join(lines)


def write_docs(section: str) -> None:
    replace_docs_section(DOCS, section, start_marker=START_MARKER, end_marker=END_MARKER, intro=INTRO)


# -- main -------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_database() -> Iterator[tuple[str, str]]:
    """A fresh database on a throwaway (or `WAGW_TEST_POSTGRES_URL`) server: (URL, server version)."""
    with postgres_server() as server_url:
        database_url, name, version = asyncio.run(create_database(server_url))
        try:
            yield database_url, version
        finally:
            asyncio.run(drop_database(server_url, name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Sandbox workers: start-up to QR, idle memory, send path.")
    parser.add_argument("--quick", action="store_true", help="Fewer instances and 3 s phases (about a minute).")
    parser.add_argument("--backends", default="sqlite,postgresql", help="Comma-separated: sqlite, postgresql.")
    parser.add_argument("--instances", type=int, help="Instances to create (default 30, 10 with --quick).")
    parser.add_argument("--seconds", type=float, help="Measured time per send phase (default 10, 3 with --quick).")
    parser.add_argument("--concurrency", type=int, default=16, help="The throughput phase's concurrency.")
    parser.add_argument("--no-docs", action="store_true", help="Do not rewrite docs/benchmarks.md.")
    args = parser.parse_args(argv)
    settings = Settings(
        instances=args.instances or (10 if args.quick else 30),
        paired=4,
        idle_seconds=5.0,
        seconds=args.seconds or (3.0 if args.quick else 10.0),
        warmup_seconds=1.0 if args.quick else 2.0,
        concurrencies=(1, args.concurrency),
    )
    if settings.instances < settings.paired:
        parser.error(f"--instances must be at least {settings.paired}")
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
        "cpu_busy_before_percent": cpu_busy_percent(),
        "backends": {},
    }
    blocks = PhoneBlocks()
    with tempfile.TemporaryDirectory(prefix="wagw-bench-workers-") as tmp:
        workdir = Path(tmp)
        for backend in backends:
            print(f"gateway and sandbox workers on {backend}", file=sys.stderr, flush=True)
            if backend == "sqlite":
                results["backends"][backend] = bench_backend(backend, None, settings, blocks, workdir)
                continue
            try:
                with postgres_database() as (database_url, version):
                    results["postgresql_version"] = version
                    results["backends"][backend] = bench_backend(backend, database_url, settings, blocks, workdir)
            except PostgresUnavailable as exc:
                print(f"bench: PostgreSQL skipped: {exc}", file=sys.stderr)
                results["backends"][backend] = {"skipped": str(exc)}
    results["duration_s"] = round(time.monotonic() - started, 1)
    results["verdicts"] = judge(results["backends"])

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    section = render_section(results)
    if not args.no_docs:
        write_docs(section)
    print()
    print("\n\n".join([targets_table(results), details_table(results), send_table(results)]))
    print()
    for note in notes(results):
        print(f"- {note}")
    print(f"\n{results['duration_s']:.0f} s; results in {RESULTS.relative_to(ROOT)}", end="")
    print("" if args.no_docs else f" and {DOCS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
