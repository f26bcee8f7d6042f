"""The turn journal on a disk that fills up for real (a 256 KiB tmpfs): a turn it cannot take is
refused with ``StorageFull`` and leaves nothing behind to be replayed; it says why while the disk
is full and takes turns again once there is room."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import StorageFull, Unavailable
from monitoring.journal import TurnJournal
from tests.monitoring.test_journal import record
from tests.small_disk import fill, small_disk


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / "disk") as mounted:
        yield mounted


async def test_a_full_disk_refuses_turns_and_keeps_none_of_them(disk: Path) -> None:
    journal = TurnJournal(disk / "journal")
    journal.open()
    kept = [await journal.append(record(n)) for n in range(5)]
    filler = fill(disk)
    # A group of turns meets the full disk: every one of them is refused, none half-written.
    results = await asyncio.gather(*(journal.append(record(n, "x" * 3000)) for n in range(5, 25)),
                                   return_exceptions=True)
    assert all(isinstance(r, StorageFull) for r in results), results
    assert isinstance(results[0], Unavailable) and results[0].retry_after > 0
    cause = results[0].__cause__
    assert isinstance(cause, OSError) and cause.errno == errno.ENOSPC
    assert journal.refusing is not None and "full" in journal.refusing
    assert journal.backlog == 5
    filler.unlink()
    assert journal.refusing is None, "room again"
    kept.append(await journal.append(record(99)))
    await journal.close()

    replay = TurnJournal(disk / "journal").open()
    assert [e.record.turn_id for e in replay] == ["t00000", "t00001", "t00002", "t00003", "t00004", "t00099"]


async def test_a_segment_refused_for_a_full_disk_is_freed_once_shipped(disk: Path) -> None:
    journal = TurnJournal(disk / "journal")
    journal.open()
    segments: list[int] = []
    # The journal fills its own disk while the database is away (nothing shipped).
    while True:
        try:
            segments.append(await journal.append(record(len(segments), "y" * 2000)))
        except StorageFull:
            break
    assert journal.refusing is not None
    # The database takes them: the sealed segment goes and turns are taken again.
    journal.shipped(segments)
    assert journal.refusing is None
    await journal.append(record(len(segments)))
    assert journal.backlog == 1
    await journal.close()


async def test_a_torn_last_line_is_never_replayed(disk: Path) -> None:
    journal = TurnJournal(disk / "journal")
    journal.open()
    await journal.append(record(1))
    await journal.close()
    segment = next((disk / "journal").glob("slot-*/segment-*.jsonl"))
    with segment.open("ab") as handle:
        handle.write(b'{"turn_id": "t00002", "conversation')  # a write cut short by a crash
    assert [e.record.turn_id for e in TurnJournal(disk / "journal").open()] == ["t00001"]
