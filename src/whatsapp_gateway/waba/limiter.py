"""Per-number pacing of calls to Meta, so a burst of sends meets Meta's throughput limit here, not as 130429s."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class ThroughputLimiter:
    """A token bucket per business number: `rate` calls a second on average, bursts of up to one second's worth.

    Each caller takes its token at once (the bucket may go below zero) and sleeps for its turn, so waiting callers
    are served in arrival order without polling. Per process: with several replicas, give each its share.
    """

    def __init__(self, rate: float) -> None:
        self._rate = rate
        self._burst = max(1.0, rate)
        self._buckets: dict[str, _Bucket] = {}

    def delay(self, key: str) -> float:
        """Take a token for `key`; the seconds to wait before using it."""
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate) - 1.0
        bucket.updated = now
        return 0.0 if bucket.tokens >= 0 else -bucket.tokens / self._rate

    async def acquire(self, key: str) -> None:
        wait = self.delay(key)
        if wait > 0:
            await asyncio.sleep(wait)
