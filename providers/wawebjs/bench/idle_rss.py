# ruff: noqa: T201 - a benchmark: it prints its results and runs openssl for a throwaway certificate
"""Idle memory of the whatsapp-web.js worker and its Chromium, measured against the conformance suite's fake gateway.

Run from the repository root after `make -C providers/wawebjs`:

    PYTHONPATH=. uv run python providers/wawebjs/bench/idle_rss.py [--seconds 60] [--config '{"single_process": false}']

WhatsApp Web is unreachable here. To measure the browser with a page in it, web.whatsapp.com is mapped (Chromium's
--host-resolver-rules) to a local HTTPS server with a self-signed certificate that answers with a small page and never
finishes it: the worker sits in `connecting` with Chromium launched and a renderer holding a committed page, waiting
for a load that does not come. The number that matters most in production (WhatsApp Web loaded and logged in) needs a
real account to measure.
RSS counts shared pages once per process, so the sum over-counts; PSS (from smaps_rollup) splits shared pages fairly;
Anonymous is private memory, what each further instance on the same host adds (Chromium's binary is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import ssl
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from tests.providers.harness import PROVIDERS, FakeGateway, WorkerProcess, new_id


def tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def memory_kib(pid: int) -> tuple[int, int, int, str]:
    fields = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            key, value = line.split(":", 1)
            fields[key] = int(value.split()[0])
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return 0, 0, 0, "?"
    return fields.get("Rss", 0), fields.get("Pss", 0), fields.get("Anonymous", 0), name


async def main(seconds: float, extra_config: dict[str, object]) -> None:
    spec = next(p for p in PROVIDERS if p.name == "wawebjs")
    gateway = FakeGateway(new_id("ins"))
    await gateway.start()
    with tempfile.TemporaryDirectory() as tmp:
        port, server = await endless_page(Path(tmp))
        rules = f"--host-resolver-rules=MAP web.whatsapp.com 127.0.0.1:{port}"
        worker = WorkerProcess(
            spec,
            gateway,
            epoch=1,
            data_dir=Path(tmp) / "data",
            log_path=Path(tmp) / "worker.log",
            listen="127.0.0.1:0",
            config={
                **spec.config,
                "connect_timeout_seconds": seconds + 60,
                "chromium_args": [rules, "--ignore-certificate-errors"],
                **extra_config,
            },
        )
        await worker.wait_ready()
        await asyncio.sleep(5)  # start-up done: the browser launched, the page is waiting
        deadline = time.monotonic() + seconds
        samples = []
        while time.monotonic() < deadline:
            await asyncio.sleep(2)
            rows = [(pid, *memory_kib(pid)) for pid in tree(worker.pid)]
            samples.append((sum(r[1] for r in rows), sum(r[2] for r in rows), rows, sum(r[3] for r in rows)))
        with_browser = [sample for sample in samples if len(sample[2]) > 1]
        rss, pss, rows, _ = max(with_browser or samples, key=lambda sample: sample[1])
        print(
            json.dumps(
                {
                    "states": gateway.connection_states(),
                    "samples": len(samples),
                    "samples_with_browser": len(with_browser),
                    "max_pss_sample": [
                        {
                            "pid": p,
                            "name": n,
                            "rss_mib": round(r / 1024, 1),
                            "pss_mib": round(s / 1024, 1),
                            "anon_mib": round(a / 1024, 1),
                        }
                        for p, r, s, a, n in rows
                    ],
                    "total_pss_mib": {
                        "median": round(statistics.median(s[1] for s in with_browser) / 1024, 1)
                        if with_browser
                        else None,
                        "max": round(pss / 1024, 1),
                    },
                    "total_rss_mib_sum": {
                        "median": round(statistics.median(s[0] for s in with_browser) / 1024, 1)
                        if with_browser
                        else None,
                        "max": round(rss / 1024, 1),
                    },
                    # Private memory: what one more instance adds where Chromium's binary is already in memory.
                    "total_anonymous_mib": {
                        "median": round(statistics.median(s[3] for s in with_browser) / 1024, 1)
                        if with_browser
                        else None,
                        "max": round(max((s[3] for s in with_browser), default=0) / 1024, 1),
                    },
                    "worker_only_rss_mib": round(rows[0][1] / 1024, 1),
                },
                indent=2,
            )
        )
        if os.environ.get("BENCH_LOG"):
            print(worker.log()[-6000:])
        response = await worker.http.post("/v1/shutdown", json={"reason": "bench"})
        print("shutdown", response.status_code, "exit", await worker.wait_exit(15))
        await worker.aclose()
        server.close()
    await gateway.stop()


async def endless_page(directory: Path) -> tuple[int, asyncio.Server]:
    """An HTTPS server on loopback whose page starts and never ends (its `load` event never fires)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    await asyncio.to_thread(
        subprocess.run,
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=web.whatsapp.com",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, ssl.SSLError):
            await reader.readuntil(b"\r\n\r\n")
            chunk = b"<!doctype html><title>WhatsApp</title><p>loading"
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
                + f"{len(chunk):x}\r\n".encode()
                + chunk
                + b"\r\n"
            )
            await writer.drain()
            await reader.read()  # hold the response open until Chromium goes away

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    return int(server.sockets[0].getsockname()[1]), server


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument(
        "--config", type=json.loads, default={}, help='more PROVIDER_CONFIG, e.g. {"single_process": false}'
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.seconds, arguments.config))
