"""Reading the turn log by conversation: all of it, its last turns, or a turn and its neighbours."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from core.turns import TurnRecord
from monitoring.turnlog.table import beyond, record_of, turns


@dataclass(frozen=True)
class Neighbours:
    """A turn and up to ``context`` turns of its conversation on each side, oldest first."""

    turn: TurnRecord
    before: tuple[TurnRecord, ...]
    after: tuple[TurnRecord, ...]


def conversation(engine: Engine, conversation_id: str, last: int | None = None) -> list[TurnRecord]:
    """A conversation's turns, oldest first; only the ``last`` ones when given."""
    query = select(turns).where(turns.c.conversation_id == conversation_id)
    if last is None:
        query = query.order_by(turns.c.ts, turns.c.turn_id)
        with engine.connect() as conn:
            return [record_of(r) for r in conn.execute(query)]
    query = query.order_by(turns.c.ts.desc(), turns.c.turn_id.desc()).limit(last)
    with engine.connect() as conn:
        return [record_of(r) for r in reversed(list(conn.execute(query)))]


def around(engine: Engine, turn_id: str, context: int) -> Neighbours | None:
    """A turn with its neighbours in its conversation; None when there is no such turn."""
    with engine.connect() as conn:
        row = conn.execute(select(turns).where(turns.c.turn_id == turn_id)).first()
        if row is None:
            return None
        here = record_of(row)
        same = turns.c.conversation_id == here.conversation_id
        before = conn.execute(
            select(turns).where(same, beyond(here.ts, here.turn_id, later=False))
            .order_by(turns.c.ts.desc(), turns.c.turn_id.desc()).limit(context)
        )
        earlier = [record_of(r) for r in before]
        after = conn.execute(
            select(turns).where(same, beyond(here.ts, here.turn_id, later=True))
            .order_by(turns.c.ts, turns.c.turn_id).limit(context)
        )
        later = [record_of(r) for r in after]
    return Neighbours(here, tuple(reversed(earlier)), tuple(later))
