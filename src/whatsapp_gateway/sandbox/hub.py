"""Wakes long polls when the sandbox network has something for a worker.

The mailbox itself is in the database; this only shortens the wait. A poll also looks again every second, so a
notification that happens in another replica (or is missed) delays an item by at most that.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict


class MailboxNotifier:
    def __init__(self) -> None:
        self._events: defaultdict[str, set[asyncio.Event]] = defaultdict(set)
        self.closing = False

    def close(self) -> None:
        """The server is stopping: end every long poll now, so they do not hold up its graceful shutdown."""
        self.closing = True
        for events in self._events.values():
            for event in events:
                event.set()

    def notify(self, instance_ids: set[str]) -> None:
        for instance_id in instance_ids:
            for event in self._events.get(instance_id, ()):
                event.set()

    async def wait(self, instance_id: str, timeout: float) -> None:  # noqa: ASYNC109 - a long poll's wait
        if self.closing:
            return
        event = asyncio.Event()
        self._events[instance_id].add(event)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self._events[instance_id].discard(event)
            if not self._events[instance_id]:
                del self._events[instance_id]
