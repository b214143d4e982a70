"""A PostgreSQL server for the test suite.

`WAGW_TEST_POSTGRES_URL` names a server to use (CI starts Debian's cluster and sets it). Without it, the suite starts
a throwaway cluster of its own when PostgreSQL's binaries are installed, so `make test` covers PostgreSQL on a
developer's machine too. Each test session creates its own database on that server and drops it at the end.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ENV_URL = "WAGW_TEST_POSTGRES_URL"


class PostgresUnavailable(Exception):
    pass


def _find_binary(name: str) -> str | None:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yields a `postgresql://` URL of a server where the test user may create databases."""
    url = os.environ.get(ENV_URL)
    if url:
        yield url
        return
    initdb, pg_ctl = _find_binary("initdb"), _find_binary("pg_ctl")
    if not initdb or not pg_ctl:
        raise PostgresUnavailable(f"no PostgreSQL binaries found and {ENV_URL} is not set")
    as_root = os.geteuid() == 0
    run_as: list[str] = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = Path(tempfile.mkdtemp(prefix="wagw-pg-"))
    data = base / "data"
    if as_root:
        shutil.chown(base, "postgres")
    port = _free_port()
    log = base / "server.log"
    try:
        subprocess.run(
            [*run_as, initdb, "-D", str(data), "-U", "wagw", "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *run_as,
                pg_ctl,
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "start",
                "-o",
                f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            ],
            check=True,
            capture_output=True,
        )
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(base, ignore_errors=True)
        detail = exc.stderr.decode(errors="replace") if isinstance(exc, subprocess.CalledProcessError) else str(exc)
        raise PostgresUnavailable(f"could not start a throwaway PostgreSQL: {detail}") from exc
    try:
        yield f"postgresql://wagw@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True)
        time.sleep(0.1)
        shutil.rmtree(base, ignore_errors=True)
