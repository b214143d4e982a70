"""`wagw`: the gateway's command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from types import FrameType

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from whatsapp_gateway import __version__, migrate
from whatsapp_gateway.api_key.operator_key import load_operator_key
from whatsapp_gateway.config import Environment, Settings
from whatsapp_gateway.logging import configure_logging
from whatsapp_gateway.notify import Wakeups


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wagw", description="WhatsApp Gateway control plane.")
    parser.add_argument("--version", action="version", version=f"wagw {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="Apply migrations, then serve the API (settings from the environment).")
    run.add_argument("--host", help="Override HOST.")
    run.add_argument("--port", type=int, help="Override PORT.")

    migrate_cmd = commands.add_parser("migrate", help="Bring the database schema up to date (or to a revision).")
    migrate_cmd.add_argument("--revision", default="head", help="Target revision for an upgrade (default: head).")
    migrate_cmd.add_argument(
        "--downgrade", metavar="REVISION", help="Downgrade to REVISION instead (`base` removes every table)."
    )

    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"wagw: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)

    if args.command == "migrate":
        return _migrate(settings, args.revision, args.downgrade)
    return _run(settings, host=args.host, port=args.port)


def _migrate(settings: Settings, revision: str, downgrade_to: str | None) -> int:
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    if downgrade_to:
        print(f"Downgrading the database to {downgrade_to} …", file=sys.stderr)
        migrate.downgrade(url, downgrade_to)
    else:
        print(f"Upgrading the database to {revision} …", file=sys.stderr)
        migrate.upgrade(url, revision)
    print("Done.", file=sys.stderr)
    return 0


def _run(settings: Settings, *, host: str | None, port: int | None) -> int:
    host = host or settings.host
    port = port or settings.port
    # Workers are told where to call back, so the app must know the port actually served.
    settings = settings.model_copy(update={"host": host, "port": port})
    if settings.resolved_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    operator_key = load_operator_key(settings)
    shown_host = "localhost" if host in ("0.0.0.0", "::") else host  # noqa: S104 - a display name only
    lines = [
        f"WhatsApp Gateway {__version__} ({settings.env}) on http://{shown_host}:{port}",
        f"  API docs:  http://{shown_host}:{port}/docs",
        f"  Database:  {_redacted(settings.resolved_database_url)}",
    ]
    if settings.env is Environment.development and operator_key.source != "API_SECRET":
        state = "generated now and saved" if operator_key.generated_now else "kept"
        lines.append(f"  Operator key ({state} in {operator_key.source}; set API_SECRET to choose your own):")
        lines.append(f"    {operator_key.key}")
    print("\n".join(lines), file=sys.stderr, flush=True)

    from whatsapp_gateway.app import create_app

    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        timeout_graceful_shutdown=10,
        # Workers keep connections to the internal API open between calls; a longer idle timeout than uvicorn's 5 s
        # spares them reconnects (their clients drop idle connections after 4 s of their own).
        timeout_keep_alive=30,
    )
    _Server(config, on_exit=lambda: _end_long_polls(app)).run()
    return 0


class _Server(uvicorn.Server):
    """uvicorn's server, telling the app as soon as a stop is asked for.

    uvicorn waits for open requests before it shuts the app down; long polls and event streams would hold that up,
    so they are ended first.
    """

    def __init__(self, config: uvicorn.Config, *, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._on_exit()


def _end_long_polls(app: FastAPI) -> None:
    wakeups: Wakeups | None = getattr(app.state, "wakeups", None)
    if wakeups is None:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    loop.call_soon_threadsafe(wakeups.close)


def _redacted(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    credentials, at, location = rest.rpartition("@")
    if not at:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{location}"


if __name__ == "__main__":
    sys.exit(main())
