"""The worker process: wires the parts together and owns start-up and the two ways to stop (protocol §3, §2, §9)."""

from __future__ import annotations

import asyncio
import os
import signal

from sandbox_worker import PROTOCOL, PROVIDER, PROVIDER_VERSION
from sandbox_worker.api import Api
from sandbox_worker.config import Config, format_listen
from sandbox_worker.events import EventSink
from sandbox_worker.gateway import GatewayClient
from sandbox_worker.http_client import HttpClient
from sandbox_worker.http_server import HttpServer
from sandbox_worker.hub import HubClient
from sandbox_worker.ids import utc_now
from sandbox_worker.log import Logger
from sandbox_worker.media import MediaStore
from sandbox_worker.sends import SentLog
from sandbox_worker.session import SandboxSession
from sandbox_worker.spool import Spool

EXIT_OK = 0
EXIT_FAILED = 1
# EX_TEMPFAIL: a newer epoch owns the instance; the runtime must not restart this one.
EXIT_SUPERSEDED = 75
SHUTDOWN_FLUSH_SECONDS = 10.0


class Worker:
    def __init__(self, config: Config, log: Logger) -> None:
        self.started_at = utc_now()
        self._config = config
        self._log = log
        self._stop = asyncio.Event()
        self._stop_reason = ""
        self._superseded = False
        self._gateway = GatewayClient(
            HttpClient(config.gateway_url),
            instance_id=config.instance_id,
            token=config.token,
            epoch=config.epoch,
            on_superseded=self._on_superseded,
        )
        self._spool = Spool(config.data_dir / "spool", log)
        self._sink = EventSink(self._spool, self._gateway, log)
        self._media = MediaStore(config.data_dir / "media")
        self._sent = SentLog(config.data_dir / "sent.jsonl", log)
        self._session = SandboxSession(
            config, self._gateway, HubClient(self._gateway), self._sink, self._media, self._sent, log
        )
        self._server = HttpServer(Api(config, self._session, self._media, self).handle, log)

    @property
    def spooled_events(self) -> int:
        return self._sink.spooled

    def request_shutdown(self, reason: str) -> None:
        if not self._stop.is_set():
            self._stop_reason = reason
            self._log.info("shutdown requested", reason=reason)
            self._stop.set()

    def _on_superseded(self) -> None:
        if not self._superseded:
            self._superseded = True
            self._log.warning("epoch superseded: a newer worker owns this instance; stopping now")
            self._stop.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_shutdown, signal.Signals(signum).name)
        try:
            host, port = await self._server.start(self._config.listen_host, self._config.listen_port)
        except OSError as exc:
            self._log.error(
                "cannot listen", host=self._config.listen_host, port=self._config.listen_port, error=str(exc)
            )
            return EXIT_FAILED
        listen = format_listen(host, port)
        self._log.info("listening", listen=listen, spooled=len(self._spool))
        delivery = asyncio.create_task(self._sink.run(), name="event-delivery")
        self._sink.emit(
            "worker.ready",
            {
                "listen": listen,
                "epoch": self._config.epoch,
                "provider": PROVIDER,
                "provider_version": PROVIDER_VERSION,
                "protocol": PROTOCOL,
                "pid": os.getpid(),
            },
        )
        self._session.start()
        await self._stop.wait()
        if self._superseded:
            return await self._stop_superseded(delivery)
        # Graceful: keep serving status while the last events drain; the stored session stays valid.
        await self._session.stop("shutdown")
        flushed = await self._sink.flush(SHUTDOWN_FLUSH_SECONDS)
        if self._superseded:
            return await self._stop_superseded(delivery)
        if not flushed:
            self._log.warning("events left in the spool for the next worker", spooled=len(self._spool))
        delivery.cancel()
        await asyncio.gather(delivery, return_exceptions=True)
        await self._close()
        self._log.info("stopped", reason=self._stop_reason)
        return EXIT_OK

    async def _stop_superseded(self, delivery: asyncio.Task[None]) -> int:
        # No state change is reported and nothing is flushed: the newer worker speaks for the instance now.
        delivery.cancel()
        await self._session.abort()
        await asyncio.gather(delivery, return_exceptions=True)
        await self._close()
        return EXIT_SUPERSEDED

    async def _close(self) -> None:
        await self._server.close()
        await self._gateway.close()
        self._spool.close()
        self._sent.close()
