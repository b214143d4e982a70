"""The waba provider's send throughput: `POST /api/instances/{id}/messages` through the gateway to the fake Graph
API, next to the same sends made to the fake directly (the baseline) in the same run.

Run with `python -m bench.bench_waba [--seconds 5] [--concurrency 16]`. Every server is a real process on 127.0.0.1:
the fake Graph API (tests/support/fake_graph.py, `python -m bench.bench_waba fake`) and the gateway (`wagw run`,
SQLite in a temp dir, `WABA_GRAPH_URL` at the fake). This process is the client: a closed loop of keep-alive
connections (httpx), each sending its next request when the answer arrives. A send through the gateway is: API key
lookup, instance, message row committed `queued`, the limiter, the Graph API call, the row committed `sent`.

Rows: the fake alone; the gateway with the per-number limiter out of the way (`WABA_RATE_LIMIT_PER_SECOND=10000`);
and the gateway with the limiter at 20 messages/s (Meta's rate for coexistence numbers), which must hold the rate
at about 20 (plus one second's burst spread over the round). Results go to
bench/results/waba.json and to the generated section of docs/providers/waba.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from tests.support.server import free_port, running_server

from bench.bench_api import git_commit, machine_info, replace_docs_section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "waba.json"
DOCS = ROOT / "docs" / "providers" / "waba.md"
START_MARKER = "<!-- bench_waba:start -->"
END_MARKER = "<!-- bench_waba:end -->"
INTRO = "## Benchmark\n"
TO = "14155550101"


def serve_fake() -> int:
    """The fake Graph API in a process of its own: prints its url and a number's config, serves until stdin closes."""
    from tests.support.fake_graph import running_fake_graph

    with running_fake_graph() as fake:
        fake.record_requests = False  # a bench must not grow a list per request
        number = fake.add_number()
        print(json.dumps({"url": fake.url, "config": fake.config_of(number)}), flush=True)
        sys.stdin.read()
    return 0


@contextlib.contextmanager
def fake_process() -> Iterator[dict[str, Any]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_waba", "fake"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the fake Graph API did not start")
        yield json.loads(line)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def closed_loop(
    send: Callable[[httpx.AsyncClient], Awaitable[int]], *, base_url: str, concurrency: int, seconds: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as http:

        async def loop(deadline: float, record: bool) -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    ok = await send(http) in (200, 202)
                except httpx.HTTPError:
                    ok = False
                if record:
                    if ok:
                        latencies.append(time.perf_counter() - started)
                    else:
                        errors += 1

        warmup = time.monotonic() + min(1.0, seconds / 3)
        await asyncio.gather(*(loop(warmup, False) for _ in range(concurrency)))
        started = time.monotonic()
        await asyncio.gather(*(loop(started + seconds, True) for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    ordered = sorted(latencies)

    def pct(q: float) -> float | None:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2) if ordered else None

    return {
        "sends_per_second": round(len(latencies) / elapsed, 1),
        "sends": len(latencies),
        "errors": errors,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else None,
    }


async def measure(concurrency: int, seconds: float) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    with fake_process() as fake, tempfile.TemporaryDirectory(prefix="bench-waba-") as tmp:
        config = fake["config"]
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": TO,
            "type": "text",
            "text": {"body": "bench", "preview_url": False},
        }
        direct_headers = {"Authorization": f"Bearer {config['access_token']}"}

        async def direct(http: httpx.AsyncClient) -> int:
            answer = await http.post(f"/v26.0/{config['phone_number_id']}/messages", json=body, headers=direct_headers)
            return answer.status_code

        rows["fake alone"] = await closed_loop(direct, base_url=fake["url"], concurrency=concurrency, seconds=seconds)

        for label, rate in (("gateway → fake, limiter off", "10000"), ("gateway → fake, limiter at 20/s", "20")):
            operator = secrets.token_urlsafe(24)
            env = {
                "API_SECRET": operator,
                "SECRET_KEY": secrets.token_urlsafe(32),
                "WABA_GRAPH_URL": fake["url"],
                "WABA_RATE_LIMIT_PER_SECOND": rate,
                "LOG_LEVEL": "WARNING",
            }
            data_dir = Path(tmp) / f"data-{rate}"
            with running_server(data_dir, port=free_port(), **env) as server:
                send = gateway_sender(*await setup_instance(server.base_url, operator, config))
                rows[label] = await closed_loop(
                    send, base_url=server.base_url, concurrency=concurrency, seconds=seconds
                )
    return rows


def gateway_sender(instance: str, headers: dict[str, str]) -> Callable[[httpx.AsyncClient], Awaitable[int]]:
    async def send(http: httpx.AsyncClient) -> int:
        body = {"to": TO, "type": "text", "text": "bench"}
        return (await http.post(f"/api/instances/{instance}/messages", json=body, headers=headers)).status_code

    return send


async def setup_instance(base_url: str, operator: str, config: dict[str, str]) -> tuple[str, dict[str, str]]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        admin = {"Authorization": f"Bearer {operator}"}
        tenant = (
            await http.post("/api/tenants", json={"name": "bench", "email": "b@example.com"}, headers=admin)
        ).json()
        key = (await http.post(f"/api/tenants/{tenant['id']}/keys", json={"name": "k"}, headers=admin)).json()
        headers = {"Authorization": f"Bearer {key['key']}"}
        created = await http.post(
            "/api/instances", json={"phone": "+15550783881", "provider": "waba", "config": config}, headers=headers
        )
        created.raise_for_status()
        return str(created.json()["id"]), headers


def markdown(rows: dict[str, Any], concurrency: int, seconds: float, when: str, load: float) -> str:
    lines = [
        START_MARKER,
        f"Measured {when} by `python -m bench.bench_waba` ({concurrency} connections, {seconds:g} s per row, one "
        f"text message per request; SQLite; 1-minute load average {load:.1f} before the run, on a shared machine).",
        "",
        "| target | sends/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, row in rows.items():
        lines.append(f"| {label} | {row['sends_per_second']} | {row['p50_ms']} | {row['p99_ms']} | {row['errors']} |")
    lines.append(END_MARKER)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Sends per second through the gateway to the fake Graph API.")
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "fake"])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--no-docs", action="store_true", help="Do not rewrite docs/providers/waba.md.")
    args = parser.parse_args(argv)
    if args.mode == "fake":
        return serve_fake()
    load = os.getloadavg()
    rows = asyncio.run(measure(args.concurrency, args.seconds))
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    result = {
        "measured_at": when,
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "machine": machine_info(),
        "load_average_before": load,
        **git_commit(),
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for label, row in rows.items():
        figures = f"p50 {row['p50_ms']} ms  p99 {row['p99_ms']} ms  errors {row['errors']}"
        print(f"{label:32} {row['sends_per_second']:>8} sends/s  {figures}")
    if not args.no_docs:
        section = markdown(rows, args.concurrency, args.seconds, when, result["load_average_before"][0])
        replace_docs_section(DOCS, section, start_marker=START_MARKER, end_marker=END_MARKER, intro=INTRO)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
