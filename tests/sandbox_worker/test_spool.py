"""The event spool: nothing is lost before the gateway acknowledges it, nothing comes back after, order holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox_worker import spool as spool_module
from sandbox_worker.log import Logger
from sandbox_worker.spool import Spool

LOG = Logger("error")


def _event(n: int, padding: int = 0) -> dict[str, object]:
    return {
        "id": f"evt_{n}",
        "type": "test",
        "timestamp": "2026-01-01T00:00:00Z",
        "data": {"n": n, "pad": "x" * padding},
    }


def _ids(spool: Spool, limit: int = 10_000) -> list[object]:
    return [event["id"] for event in spool.peek(limit).events]


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def spool(directory: Path) -> Iterator[Spool]:
    opened = Spool(directory, LOG)
    yield opened
    opened.close()


def _reopen(spool: Spool, directory: Path) -> Spool:
    spool.close()
    return Spool(directory, LOG)


def _event_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("events-*.jsonl"))


def test_appended_events_are_delivered_in_order(spool: Spool) -> None:
    spool.append([_event(1), _event(2)])
    spool.append([_event(3)])

    assert len(spool) == 3
    assert _ids(spool) == ["evt_1", "evt_2", "evt_3"]
    # Peeking does not consume.
    assert _ids(spool) == ["evt_1", "evt_2", "evt_3"]


def test_batches_are_bounded(spool: Spool) -> None:
    spool.append([_event(n) for n in range(1200)])

    batch = spool.peek(500)

    assert len(batch.events) == 500
    assert batch.events[0]["id"] == "evt_0"


def test_acknowledged_events_are_gone_and_the_file_is_emptied(spool: Spool, directory: Path) -> None:
    spool.append([_event(1), _event(2), _event(3)])

    spool.ack(spool.peek(2))
    assert _ids(spool) == ["evt_3"]
    assert len(spool) == 1

    spool.ack(spool.peek(10))
    assert len(spool) == 0
    assert _ids(spool) == []
    files = _event_files(directory)
    assert len(files) == 1
    assert files[0].stat().st_size == 0


def test_a_restarted_spool_delivers_what_was_not_acknowledged(spool: Spool, directory: Path) -> None:
    spool.append([_event(n) for n in range(5)])
    spool.ack(spool.peek(2))

    reopened = _reopen(spool, directory)
    try:
        assert len(reopened) == 3
        assert _ids(reopened) == ["evt_2", "evt_3", "evt_4"]
        reopened.append([_event(5)])
        assert _ids(reopened) == ["evt_2", "evt_3", "evt_4", "evt_5"]
    finally:
        reopened.close()


def test_a_torn_last_line_is_dropped_and_later_appends_are_intact(spool: Spool, directory: Path) -> None:
    spool.append([_event(1), _event(2)])
    spool.close()
    # kill -9 in the middle of an append: half a line, no newline.
    with _event_files(directory)[0].open("ab") as file:
        file.write(b'{"id": "evt_torn", "type": "te')

    reopened = Spool(directory, LOG)
    try:
        assert _ids(reopened) == ["evt_1", "evt_2"]
        reopened.append([_event(3)])
        assert _ids(reopened) == ["evt_1", "evt_2", "evt_3"]
    finally:
        reopened.close()


def test_an_unreadable_line_is_skipped_not_blocking(spool: Spool, directory: Path) -> None:
    spool.append([_event(1)])
    with _event_files(directory)[0].open("ab") as file:
        file.write(b"not json at all\n")
    reopened = _reopen(spool, directory)
    try:
        reopened.append([_event(2)])

        batch = reopened.peek(10)

        assert [event["id"] for event in batch.events] == ["evt_1", "evt_2"]
        assert batch.skipped == 1
        reopened.ack(batch)
        assert len(reopened) == 0
    finally:
        reopened.close()


def test_the_delivered_head_is_compacted_away(spool: Spool, directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool_module, "COMPACT_BYTES", 1024)
    spool.append([_event(n, padding=100) for n in range(40)])
    size_before = _event_files(directory)[0].stat().st_size

    spool.ack(spool.peek(30))

    files = _event_files(directory)
    assert len(files) == 1
    assert files[0].stat().st_size < size_before / 3
    assert _ids(spool) == [f"evt_{n}" for n in range(30, 40)]
    reopened = _reopen(spool, directory)
    try:
        assert _ids(reopened) == [f"evt_{n}" for n in range(30, 40)]
    finally:
        reopened.close()


def test_a_crash_during_compaction_loses_nothing(spool: Spool, directory: Path) -> None:
    spool.append([_event(1), _event(2)])
    spool.close()
    # The next generation was being written when the process died: the cursor still names the current one.
    current = _event_files(directory)[0]
    number = int(current.name.removeprefix("events-").removesuffix(".jsonl"))
    orphan = directory / f"events-{number + 1:08d}.jsonl"
    orphan.write_bytes(b'{"id": "evt_2"}\n{"id": "evt_')

    reopened = Spool(directory, LOG)
    try:
        assert _ids(reopened) == ["evt_1", "evt_2"]
        assert not orphan.exists()
    finally:
        reopened.close()


def test_a_lost_cursor_redelivers_rather_than_loses(spool: Spool, directory: Path) -> None:
    spool.append([_event(1), _event(2), _event(3)])
    spool.ack(spool.peek(1))
    spool.close()
    (directory / "cursor.json").unlink()

    reopened = Spool(directory, LOG)
    try:
        # The gateway de-duplicates by id, so re-delivering evt_1 is harmless; dropping evt_2 would not be.
        assert _ids(reopened)[-2:] == ["evt_2", "evt_3"]
    finally:
        reopened.close()
