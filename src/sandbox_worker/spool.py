"""The on-disk event spool (docs/worker-protocol.md §6): events survive until the gateway has acknowledged them.

Layout, in `DATA_DIR/spool/`:
- `events-<generation>.jsonl`: one event a line, appended and fsync'ed before anyone tries to deliver it;
- `cursor.json`: `{"generation", "offset"}`, the byte offset up to which that generation's file is delivered,
  replaced atomically (write, fsync, rename, fsync the directory).

Delivery reads from the cursor, so acknowledging a batch is one small atomic write, not a rewrite. Compaction starts a
new generation: empty once everything is delivered, or a copy of the undelivered tail once the delivered head has
grown past both `COMPACT_BYTES` and the tail (so copying costs at most as much as was delivered). The cursor names the
generation, so a crash at any point leaves either the old file and cursor or the new ones; files of other
generations are leftovers and are deleted on open.

A crash mid-append leaves a last line without its newline: on open it is cut off (it was never acknowledged to
anyone, as the append had not returned).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox_worker.log import Logger

COMPACT_BYTES = 1024 * 1024
# Keep one delivery request well below any sane body limit on the gateway, whatever the events hold.
MAX_BATCH_BYTES = 4 * 1024 * 1024
_CURSOR = "cursor.json"


@dataclass(frozen=True)
class SpoolBatch:
    events: list[dict[str, object]]
    generation: int
    # Byte offset just past the batch's last line: where the cursor moves once the gateway has it.
    end: int
    # Lines that are in the batch's range but unreadable (skipped, never delivered).
    skipped: int = 0


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    def __init__(self, directory: Path, log: Logger) -> None:
        self._dir = directory
        self._log = log
        self._dir.mkdir(parents=True, exist_ok=True)
        self._generation, self._offset = self._read_cursor()
        self._remove_other_generations()
        self._size, self._pending = self._recover()
        self._append = self._path(self._generation).open("ab")

    def __len__(self) -> int:
        """Events spooled and not yet acknowledged by the gateway."""
        return self._pending

    @property
    def generation(self) -> int:
        return self._generation

    def close(self) -> None:
        self._append.close()

    def append(self, events: Sequence[Mapping[str, object]]) -> None:
        """Durably add `events`, in order. Returns only once they are on disk."""
        if not events:
            return
        data = b"".join(json.dumps(event, separators=(",", ":")).encode() + b"\n" for event in events)
        try:
            self._append.write(data)
            self._append.flush()
            os.fsync(self._append.fileno())
        except BaseException:
            # Never leave half a line behind: the next append would glue a valid event onto it.
            with contextlib.suppress(OSError):
                self._append.flush()
            with contextlib.suppress(OSError):
                os.truncate(self._path(self._generation), self._size)
            raise
        self._size += len(data)
        self._pending += len(events)

    def peek(self, limit: int) -> SpoolBatch:
        """Up to `limit` undelivered events from the oldest, without removing them."""
        events: list[dict[str, object]] = []
        skipped = 0
        end = self._offset
        batch_bytes = 0
        with self._path(self._generation).open("rb") as file:
            file.seek(self._offset)
            while len(events) < limit and end < self._size:
                line = file.readline()
                if not line.endswith(b"\n"):
                    break
                if events and batch_bytes + len(line) > MAX_BATCH_BYTES:
                    break
                end += len(line)
                event = _decode(line)
                if event is None:
                    skipped += 1
                    self._log.warning("spool: skipping an unreadable event", generation=self._generation)
                    continue
                events.append(event)
                batch_bytes += len(line)
        return SpoolBatch(events, self._generation, end, skipped)

    def ack(self, batch: SpoolBatch) -> None:
        """The gateway has `batch`: drop it for good, compacting when it pays."""
        if batch.generation != self._generation or batch.end <= self._offset:
            return
        self._pending -= len(batch.events)
        # A new generation's cursor supersedes the old offset, so compaction needs no cursor write of its own first.
        if batch.end >= self._size:
            self._start_generation(b"")
        elif batch.end >= COMPACT_BYTES and batch.end >= self._size - batch.end:
            with self._path(self._generation).open("rb") as file:
                file.seek(batch.end)
                tail = file.read(self._size - batch.end)
            self._start_generation(tail)
        else:
            self._write_cursor(self._generation, batch.end)
            self._offset = batch.end

    def _path(self, generation: int) -> Path:
        return self._dir / f"events-{generation:08d}.jsonl"

    def _generations(self) -> list[int]:
        found = []
        for path in self._dir.glob("events-*.jsonl"):
            number = path.name.removeprefix("events-").removesuffix(".jsonl")
            if number.isdigit():
                found.append(int(number))
        return sorted(found)

    def _read_cursor(self) -> tuple[int, int]:
        try:
            cursor = json.loads((self._dir / _CURSOR).read_bytes())
            generation, offset = int(cursor["generation"]), int(cursor["offset"])
            if generation < 1 or offset < 0:
                raise ValueError
            return generation, offset
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError):
            self._log.warning("spool: unreadable cursor, re-delivering from the oldest file")
        # Without a cursor the oldest file is the safe start: a compacted generation only ever copies the tail of the
        # one before it, so the oldest holds everything (re-delivered events are de-duplicated by the gateway).
        generations = self._generations()
        generation = generations[0] if generations else 1
        self._path(generation).touch()
        self._write_cursor(generation, 0)
        return generation, 0

    def _remove_other_generations(self) -> None:
        for generation in self._generations():
            if generation != self._generation:
                self._path(generation).unlink(missing_ok=True)
        (self._dir / f"{_CURSOR}.tmp").unlink(missing_ok=True)

    def _recover(self) -> tuple[int, int]:
        """(file size, undelivered events), cutting off a torn last line."""
        path = self._path(self._generation)
        path.touch()
        pending = 0
        good_end = self._offset
        with path.open("rb") as file:
            size = file.seek(0, os.SEEK_END)
            if self._offset > size:
                self._log.warning("spool: cursor past the end of its file, re-delivering the file")
                self._write_cursor(self._generation, 0)
                self._offset = good_end = 0
            file.seek(self._offset)
            for line in file:
                if not line.endswith(b"\n"):
                    break
                good_end += len(line)
                if _decode(line) is not None:
                    pending += 1
        if good_end < size:
            self._log.warning("spool: dropping a torn last line", bytes=size - good_end)
            os.truncate(path, good_end)
            size = good_end
        return size, pending

    def _write_cursor(self, generation: int, offset: int) -> None:
        tmp = self._dir / f"{_CURSOR}.tmp"
        with tmp.open("wb") as file:
            file.write(json.dumps({"generation": generation, "offset": offset}).encode())
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, self._dir / _CURSOR)
        _fsync_dir(self._dir)

    def _start_generation(self, content: bytes) -> None:
        old = self._generation
        new = old + 1
        with self._path(new).open("wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        self._write_cursor(new, 0)
        self._append.close()
        self._generation, self._offset, self._size = new, 0, len(content)
        self._append = self._path(new).open("ab")
        self._path(old).unlink(missing_ok=True)


def _decode(line: bytes) -> dict[str, object] | None:
    try:
        value = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def lock_directory(directory: Path, *, timeout: float) -> int:
    """Hold an exclusive lock on `directory` for the life of the process; returns the lock's file descriptor.

    Two workers on one spool would interleave appends and acknowledge each other's events. A predecessor that is
    still exiting releases the lock when it dies (even by SIGKILL), so wait for it a while before giving up.
    """
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise
            time.sleep(0.2)
