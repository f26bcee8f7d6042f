from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.db import make_engine
from core.turns import Flag, Hit, Route, TurnRecord
from harness.pg import postgres_server
from monitoring.journal import TurnJournal
from monitoring.sink import TurnLogSink
from monitoring.turnlog import TurnLog


def _record(turn_id: str, text: str = "how long is delivery?") -> TurnRecord:
    return TurnRecord(
        conversation_id="c1",
        turn_id=turn_id,
        ts=datetime(2026, 11, 23, 12, 0, int(turn_id[-1]), tzinfo=UTC),
        channel="rest",
        user_text=text,
        route=Route.FAQ,
        response=({"recipient_id": "c1", "text": "2-3 working days"},),
        hits=(Hit("delivery_times", "faq", 0.91, "how long does delivery take"),),
        latency_ms={"embed": 5.0, "search": 0.4, "total": 7.2},
        versions={"encoder": "e", "index": "i", "generator": "g"},
        flags=frozenset({Flag.PII_REDACTED}),
    )


def _roundtrip(url: str) -> None:
    engine = make_engine(url)
    log = TurnLog(engine)
    log.create()
    log.write([_record("t1"), _record("t2", "=HYPERLINK(evil)")])
    assert log.set_feedback("c1", "t1", -1)
    assert not log.set_feedback("other", "t1", 1), "feedback must match the conversation"
    records = list(log.records("c1"))
    assert [r.turn_id for r in records] == ["t1", "t2"]
    first = records[0].to_json()
    assert first["route"] == "faq"
    assert first["latency_ms"] == {"embed": 5.0, "search": 0.4, "total": 7.2}
    assert first["flags"] == ["negative_feedback", "pii_redacted"]
    assert first["hits"][0]["id"] == "delivery_times"
    engine.dispose()


def test_sqlite_roundtrip(tmp_path: Path) -> None:
    _roundtrip(f"sqlite:///{tmp_path / 'sub' / 'turns.db'}")


@pytest.mark.postgres
def test_postgresql_url_works_unchanged(tmp_path: Path) -> None:
    with postgres_server() as url:
        _roundtrip(url)
        # The bare form, as documented: it means psycopg 3, which is installed.
        bare = url.replace("postgresql+psycopg2://", "postgresql://")
        engine = make_engine(bare)
        assert engine.dialect.driver == "psycopg"
        assert [r.turn_id for r in TurnLog(engine).records("c1")] == ["t1", "t2"]
        engine.dispose()


async def test_sink_writes_in_background_and_drains_on_close(tmp_path: Path) -> None:
    log = TurnLog(make_engine(f"sqlite:///{tmp_path / 'turns.db'}"))
    log.create()
    sink = TurnLogSink(log, TurnJournal(tmp_path / "journal"))
    await sink.start()
    for i in range(5):
        await sink.submit(_record(f"t{i}"))
    await sink.close()
    reread = TurnLog(make_engine(f"sqlite:///{tmp_path / 'turns.db'}"))
    assert len(list(reread.records())) == 5
