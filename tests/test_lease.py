"""One replica at a time holds the reconciler's lease; a dead holder's lease runs out and passes on."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
from fastapi import FastAPI

from whatsapp_gateway import lease


async def test_one_holder_at_a_time_and_takeover_after_expiry(app: FastAPI, client: httpx.AsyncClient) -> None:
    sessions = app.state.sessionmaker
    short = dt.timedelta(milliseconds=300)
    assert await lease.acquire(sessions, "test", "replica-a", ttl=short)
    assert not await lease.acquire(sessions, "test", "replica-b", ttl=short)
    assert await lease.acquire(sessions, "test", "replica-a", ttl=short), "the holder renews"
    await asyncio.sleep(0.4)  # replica-a died: its lease runs out
    assert await lease.acquire(sessions, "test", "replica-b", ttl=short)
    assert not await lease.acquire(sessions, "test", "replica-a", ttl=short)
    await lease.release(sessions, "test", "replica-b")
    assert await lease.acquire(sessions, "test", "replica-a", ttl=short), "a released lease passes on at once"


async def test_replicas_racing_for_a_new_lease_get_one_winner(app: FastAPI, client: httpx.AsyncClient) -> None:
    sessions = app.state.sessionmaker
    results = await asyncio.gather(
        *(lease.acquire(sessions, "race", f"replica-{n}", ttl=dt.timedelta(seconds=30)) for n in range(5))
    )
    assert sorted(results) == [False, False, False, False, True]
