"""Starting the real gateway (`wagw run`) as a child process, for tests that need a real server."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

WAGW = str(Path(sys.executable).with_name("wagw"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    process: subprocess.Popen[str]
    base_url: str
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"API_SECRET", "DATABASE_URL", "ENV", "PORT", "DATA_DIR"}}
    env.update({"DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING", **extra})
    return env


@contextlib.contextmanager
def running_server(
    data_dir: Path, *, timeout: float = 30.0, port: int | None = None, host: str = "127.0.0.1", **env: str
) -> Iterator[RunningServer]:
    """`host`: 127.0.0.1 unless workers in containers must reach it (then 0.0.0.0)."""
    port = port or free_port()
    log_path = data_dir.parent / f"server-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [WAGW, "run", "--host", host, "--port", str(port)],
            env=server_env(data_dir, **env),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = RunningServer(process, f"http://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"wagw run exited with {process.returncode}:\n{server.output()}")
            try:
                if httpx.get(server.base_url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"wagw run did not become healthy in {timeout}s:\n{server.output()}")
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
