"""Wake-ups for long-lived requests: the sandbox hub's long polls and the live event streams.

What they wait for is always in the database; a wake-up only shortens the wait. Waiters also look again every second
or so, so a change made by another replica (which cannot wake this one) delays them by at most that.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable


class Wakeups:
    def __init__(self) -> None:
        self._events: defaultdict[str, set[asyncio.Event]] = defaultdict(set)
        self.closing = False

    def close(self) -> None:
        """The server is stopping: end every wait now, so none holds up its graceful shutdown."""
        self.closing = True
        for events in self._events.values():
            for event in events:
                event.set()

    def listen(self, key: str) -> asyncio.Event:
        """A lasting subscription for a loop that waits again and again: a notification that comes while the loop is
        busy is kept (the event stays set) instead of lost between two waits. The loop clears it before it looks."""
        event = asyncio.Event()
        self._events[key].add(event)
        return event

    def unlisten(self, key: str, event: asyncio.Event) -> None:
        self._events[key].discard(event)

    def notify(self, keys: Iterable[str]) -> None:
        for key in keys:
            for event in self._events.get(key, ()):
                event.set()

    async def wait(self, keys: Iterable[str], timeout: float) -> None:  # noqa: ASYNC109 - a long poll's wait
        """Until one of `keys` is notified, the server stops, or `timeout` seconds pass."""
        if self.closing:
            return
        event = asyncio.Event()
        keys = list(keys)
        for key in keys:
            self._events[key].add(event)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            for key in keys:
                self._events[key].discard(event)
                if not self._events[key]:
                    del self._events[key]


def mailbox_key(instance_id: str) -> str:
    return f"mailbox:{instance_id}"


def instance_events_key(instance_id: str) -> str:
    return f"events:instance:{instance_id}"


def tenant_events_key(tenant_id: str) -> str:
    return f"events:tenant:{tenant_id}"
