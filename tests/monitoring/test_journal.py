"""The turn journal and the shipper: durable before acknowledged, nothing lost, nothing duplicated."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from core.db import make_engine
from core.turns import Route, TurnRecord
from monitoring.journal import TurnJournal
from monitoring.sink import TurnLogSink
from monitoring.turnlog import TurnLog


def record(n: int, text: str = "how long is delivery?") -> TurnRecord:
    return TurnRecord(
        conversation_id=f"c{n % 7}", turn_id=f"t{n:05d}", ts=datetime(2026, 12, 1, 12, tzinfo=UTC),
        channel="rest", user_text=text, route=Route.FAQ,
        response=({"recipient_id": "c", "text": "2-3 working days"},), latency_ms={"total": 9.0},
    )


def logged_ids(log: TurnLog) -> list[str]:
    return sorted(r.turn_id for r in log.records())


def refusing_inserts(tmp_path: Path) -> tuple[Any, TurnLog, dict[str, bool]]:
    """A turn log whose inserts fail as in a database outage while ``outage["on"]``."""
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    log = TurnLog(engine)
    log.create()
    outage = {"on": True}

    @event.listens_for(engine, "before_cursor_execute")
    def refuse(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if outage["on"] and statement.startswith("INSERT"):
            raise OperationalError(statement, {}, ConnectionRefusedError("database is away"))

    return engine, log, outage


async def test_concurrent_appends_share_one_fsync(tmp_path: Path) -> None:
    journal = TurnJournal(tmp_path)
    assert journal.open() == []
    await asyncio.gather(*(journal.append(record(n)) for n in range(200)))
    assert journal.commits < 20, f"{journal.commits} fsyncs for 200 turns: no group commit"
    assert journal.backlog == 200
    lines = (tmp_path / "slot-000" / "segment-00000001.jsonl").read_bytes().splitlines()
    assert len(lines) == 200 and json.loads(lines[0])["turn_id"] == "t00000"
    await journal.close()


async def test_what_was_not_shipped_is_replayed_and_shipped_segments_go(tmp_path: Path) -> None:
    journal = TurnJournal(tmp_path, segment_records=10)
    journal.open()
    segments = [await journal.append(record(n)) for n in range(25)]
    journal.shipped(segments[:10])  # the first segment reached the database
    assert not (tmp_path / "slot-000" / "segment-00000001.jsonl").exists(), "shipped sealed segments go"
    # A crash now: the kernel drops a dead process's slot lock, and the next process reopens.
    journal._slot_lock.close()
    reopened = TurnJournal(tmp_path, segment_records=10)
    replay = reopened.open()
    assert [e.record.turn_id for e in replay] == [f"t{n:05d}" for n in range(10, 25)]
    assert replay[0].record == record(10)


async def test_workers_take_separate_slots_and_adopt_what_a_gone_one_left(tmp_path: Path) -> None:
    first, second = TurnJournal(tmp_path), TurnJournal(tmp_path)
    first.open()
    second.open()
    assert first.directory != second.directory
    await first.append(record(1))
    await second.append(record(2))
    await first.close()  # a worker fewer; its turn was never shipped
    third = TurnJournal(tmp_path)
    assert [e.record.turn_id for e in third.open()] == ["t00001"]
    await asyncio.gather(second.close(), third.close())


async def test_a_torn_last_line_is_skipped_and_an_unreadable_one_quarantined(tmp_path: Path) -> None:
    journal = TurnJournal(tmp_path)
    journal.open()
    await journal.append(record(1))
    await journal.close()
    segment = tmp_path / "slot-000" / "segment-00000001.jsonl"
    with segment.open("ab") as handle:
        handle.write(b'{"this is": "not a record"}\n{"turn_id": "torn", "conv')
    replay = TurnJournal(tmp_path).open()
    assert [e.record.turn_id for e in replay] == ["t00001"]
    assert len(list((tmp_path / "slot-000" / "quarantine").iterdir())) == 1


async def test_a_record_that_cannot_be_encoded_is_set_apart_alone(tmp_path: Path) -> None:
    journal = TurnJournal(tmp_path)
    journal.open()
    bad = record(2, "\ud800 lone surrogate")
    results = await asyncio.gather(journal.append(record(1)), journal.append(bad), journal.append(record(3)),
                                   return_exceptions=True)
    assert isinstance(results[1], UnicodeEncodeError)
    assert results[0] == results[2] == 1, "the other turns are journalled"
    assert journal.quarantined == 1 and journal.backlog == 2
    await journal.close()


async def test_the_shipper_retries_through_an_outage_and_never_duplicates(tmp_path: Path) -> None:
    engine, log, outage = refusing_inserts(tmp_path)

    sink = TurnLogSink(log, TurnJournal(tmp_path / "journal"))
    await sink.start()
    for n in range(30):
        await sink.submit(record(n))
    assert not await sink.flush(timeout_s=0.5), "nothing can be written while the database is away"
    assert sink.backlog == 30 and sink.outage_s > 0
    outage["on"] = False
    assert await sink.flush(timeout_s=15)
    assert logged_ids(log) == [f"t{n:05d}" for n in range(30)]
    assert sink.backlog == 0 and sink.outage_s == 0
    await sink.close()
    # Replaying the same records (a crash between insert and journal bookkeeping) adds nothing.
    log.write([record(n) for n in range(30)])
    assert len(logged_ids(log)) == 30
    engine.dispose()


async def test_an_outage_backlog_waits_on_disk_not_in_memory(tmp_path: Path) -> None:
    engine, log, outage = refusing_inserts(tmp_path)

    # Small segments, so the spilled records span several of them and some are sealed.
    sink = TurnLogSink(log, TurnJournal(tmp_path / "journal", segment_records=7), max_batch=4, max_queued=10)
    await sink.start()
    await asyncio.gather(*(sink.submit(record(n)) for n in range(95)))
    assert not await sink.flush(timeout_s=0.3)
    assert sink.backlog == 95
    # One batch is with the writer, at most max_queued wait in memory; the rest only on disk.
    assert sink.in_memory <= 10 and len(sink._spilled) >= 95 - 10 - 4
    outage["on"] = False
    assert await sink.flush(timeout_s=20)
    assert logged_ids(log) == [f"t{n:05d}" for n in range(95)], "each spilled turn read back once"
    assert sink.reloaded >= 95 - 10 - 4 and sink.backlog == 0
    # Shipped segments went; later turns are queued in memory again.
    assert not list((tmp_path / "journal").glob("slot-*/segment-00000001.jsonl"))
    await sink.submit(record(200))
    assert await sink.flush(timeout_s=10)
    assert "t00200" in logged_ids(log)
    await sink.close()
    engine.dispose()


async def test_a_record_the_database_refuses_for_good_does_not_take_its_batch_with_it(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    log = TurnLog(engine)
    log.create()

    @event.listens_for(engine, "before_cursor_execute")
    def poison(conn, cursor, statement, parameters, *args):  # type: ignore[no-untyped-def]
        rows = parameters if isinstance(parameters, list) else [parameters]
        if any("poison" in str(row) for row in rows):
            raise ValueError("refused for good")

    sink = TurnLogSink(log, TurnJournal(tmp_path / "journal"))
    await sink.start()
    await asyncio.gather(*(sink.submit(record(n, "poison" if n == 5 else "fine")) for n in range(10)))
    assert await sink.flush(timeout_s=15)
    assert logged_ids(log) == [f"t{n:05d}" for n in range(10) if n != 5]
    assert sink.journal.quarantined == 1 and sink.backlog == 0
    await sink.close()
    engine.dispose()


@pytest.mark.parametrize("fsync", [True, False])
async def test_close_keeps_unshipped_turns_for_the_next_start(tmp_path: Path, fsync: bool) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    log = TurnLog(engine)
    log.create()

    @event.listens_for(engine, "before_cursor_execute")
    def refuse(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT"):
            raise OperationalError(statement, {}, ConnectionRefusedError("database is away"))

    # The database refuses every write, so closing gives up after its drain time.
    sink = TurnLogSink(log, TurnJournal(tmp_path / "journal", fsync=fsync), drain_on_close_s=0.5)
    await sink.start()
    for n in range(5):
        await sink.submit(record(n))
    sink_close = asyncio.create_task(sink.close())
    await asyncio.wait_for(sink_close, 20)
    assert logged_ids(log) == [], "nothing reached the database while it was away"
    event.remove(engine, "before_cursor_execute", refuse)
    again = TurnLogSink(log, TurnJournal(tmp_path / "journal", fsync=fsync))
    await again.start()
    assert await again.flush(timeout_s=15)
    assert logged_ids(log) == [f"t{n:05d}" for n in range(5)]
    await again.close()
    engine.dispose()
