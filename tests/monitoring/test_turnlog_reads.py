"""The turn log's own reads (flags, time windows, shopper messages, conversations) on both backends."""

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from core.db import make_engine
from core.turns import Flag, Route
from harness.pg import postgres_server
from monitoring.turnlog import TurnLog, conversations, turns
from monitoring.turnlog.table import has_flag
from monitoring.turnlog.windows import points, recent_messages, unfamiliar_messages
from tests.turns import T0, turn

M = timedelta(minutes=1)
TURNS = [
    turn("a", 0, text="first", flags=(Flag.UNFAMILIAR,), nearest_phrasing=0.3),
    turn("b", 1, text="to a person", route=Route.HUMAN, flags=(Flag.UNFAMILIAR,), nearest_phrasing=0.1),
    turn("c", 2, text="broke", route=Route.ERROR, flags=(Flag.ERROR,), confidence=0.0),
    turn("d", 3, text="weather?", route=Route.DECLINE, flags=(Flag.DECLINED, Flag.UNFAMILIAR),
         confidence=0.1, nearest_phrasing=0.2),
    turn("e", 4, text="   ", route=Route.GENERATE, flags=(Flag.GENERATION_FAILED,), total_ms=300.0),
    turn("f", 5, conversation="c2", text="another chat"),
]


def _log(url: str) -> Engine:
    engine = make_engine(url)
    log = TurnLog(engine)
    log.create()
    log.write(TURNS)
    return engine


def _flagged(engine: Engine, flag: Flag) -> list[str]:
    query = select(turns.c.turn_id).where(has_flag(flag)).order_by(turns.c.ts)
    with engine.connect() as conn:
        return [r.turn_id for r in conn.execute(query)]


def _scenario(engine: Engine) -> None:
    assert _flagged(engine, Flag.ERROR) == ["c"], "an element of the list, not a piece of generation_failed"
    assert _flagged(engine, Flag.UNFAMILIAR) == ["a", "b", "d"]
    assert _flagged(engine, Flag.NEGATIVE_FEEDBACK) == []

    every = list(points(engine, T0, T0 + 5 * M))
    assert [p.route for p in every] == ["faq", "human", "error", "decline", "generate"], "[since, until)"
    routed = list(points(engine, T0, T0 + 5 * M, routed=True))
    assert [(p.route, p.confidence) for p in routed] == [("faq", 0.9), ("decline", 0.1), ("generate", 0.9)]
    assert routed[2].total_ms == 300.0 and routed[2].flags == {"generation_failed"}
    assert all(p.ts.tzinfo is not None for p in every)

    unfamiliar = unfamiliar_messages(engine, T0, T0 + 10 * M, 10)
    assert [(m.turn_id, m.text, m.nearest_phrasing) for m in unfamiliar] == [
        ("d", "weather?", 0.2), ("a", "first", 0.3),
    ], "newest first, routed only"
    assert unfamiliar[0].label == "delivery_times" and unfamiliar[0].route == "decline"
    assert [m.turn_id for m in unfamiliar_messages(engine, T0, T0 + 10 * M, 1)] == ["d"]
    assert unfamiliar_messages(engine, T0 + M, T0 + 3 * M, 10) == []

    assert [m.turn_id for m in recent_messages(engine, 10)] == ["a", "c", "d", "f"], "no person's, no blank"
    assert [m.turn_id for m in recent_messages(engine, 2)] == ["f"], "the newest two, then blanks dropped"
    assert [m.turn_id for m in recent_messages(engine, 10, since=T0 + 3 * M)] == ["d", "f"]

    assert [r.turn_id for r in conversations.conversation(engine, "c1")] == ["a", "b", "c", "d", "e"]
    assert [r.turn_id for r in conversations.conversation(engine, "c1", last=2)] == ["d", "e"]
    near = conversations.around(engine, "c", 1)
    assert near is not None and near.turn.turn_id == "c"
    assert ([r.turn_id for r in near.before], [r.turn_id for r in near.after]) == (["b"], ["d"])
    assert conversations.around(engine, "missing", 1) is None


def test_reads_on_sqlite(tmp_path: Path) -> None:
    engine = _log(f"sqlite:///{tmp_path / 'turns.db'}")
    _scenario(engine)
    engine.dispose()


@pytest.mark.postgres
def test_reads_on_postgresql() -> None:
    with postgres_server() as url:
        engine = _log(url)
        try:
            _scenario(engine)
        finally:
            engine.dispose()


def test_recent_messages_before_the_first_turn(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert recent_messages(engine, 10) == []
    engine.dispose()
