"""The retry loop for outbound messages left `queued` (worker unreachable, or the control plane crashed mid-send)."""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from whatsapp_gateway.message import service as message_service
from whatsapp_gateway.provider.client import WorkerClient
from whatsapp_gateway.provider.direct import DirectProviders

log = structlog.get_logger(__name__)

RETRY_INTERVAL_SECONDS = 2.0


async def retry_queued_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    workers: WorkerClient,
    direct: DirectProviders = message_service.NO_DIRECT_PROVIDERS,
) -> None:
    while True:
        try:
            handed = await message_service.retry_queued(sessionmaker, workers, direct)
            if handed:
                log.info("queued_messages_handed_over", count=handed)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("message_retry_failed")
        await asyncio.sleep(RETRY_INTERVAL_SECONDS)
