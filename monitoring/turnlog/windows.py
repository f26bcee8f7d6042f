"""Reading the turn log by time: the turns of a window (statistics, drift) and shopper messages.

"Routed" turns are those the bot's router decided: not a person's, not failed ones
(``monitoring.flags.NOT_ROUTED``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import desc, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Select

from core.db import as_utc
from core.turns import Flag, Route
from monitoring.flags import NOT_ROUTED
from monitoring.turnlog.table import has_flag, turns

_ROUTED = turns.c.route.not_in(sorted(str(r) for r in NOT_ROUTED))


@dataclass(frozen=True)
class TurnPoint:
    """The columns of one turn that statistics and drift rates need."""

    ts: datetime
    route: str
    flags: frozenset[str]
    total_ms: float | None = None
    feedback: int | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class Message:
    """A shopper message as logged (redacted then) and what the bot made of it."""

    turn_id: str
    ts: datetime
    text: str
    route: str
    label: str
    nearest_phrasing: float | None


def points(engine: Engine, since: datetime, until: datetime, *, routed: bool = False) -> Iterator[TurnPoint]:
    """The turns logged in ``[since, until)``, oldest first (only the routed ones with ``routed``)."""
    c = turns.c
    query = (
        select(c.ts, c.route, c.flags, c.latency_ms, c.feedback,
               c.meta["confidence"].as_float().label("confidence"))
        .where(c.ts >= as_utc(since), c.ts < as_utc(until), *([_ROUTED] if routed else []))
        .order_by(c.ts)
    )
    with engine.connect() as conn:
        for row in conn.execute(query):
            total = (row.latency_ms or {}).get("total")
            yield TurnPoint(
                ts=as_utc(row.ts),
                route=row.route,
                flags=frozenset(row.flags or ()),
                total_ms=float(total) if total is not None else None,
                feedback=row.feedback,
                confidence=row.confidence,
            )


def unfamiliar_messages(engine: Engine, since: datetime, until: datetime, limit: int) -> list[Message]:
    """The latest ``limit`` routed messages flagged unfamiliar in ``[since, until)``, newest first."""
    c = turns.c
    query = (
        _messages()
        .where(c.ts >= as_utc(since), c.ts < as_utc(until), _ROUTED, has_flag(Flag.UNFAMILIAR))
        .order_by(desc(c.ts), desc(c.turn_id))
        .limit(limit)
    )
    with engine.connect() as conn:
        return [_message(r) for r in conn.execute(query)]


def recent_messages(engine: Engine, limit: int, since: datetime | None = None) -> list[Message]:
    """The newest ``limit`` shopper messages the bot routed (not those a person answered), oldest first.

    Empty before the first turn is logged; messages without text are left out.
    """
    if not inspect(engine).has_table(turns.name):
        return []
    c = turns.c
    query = _messages().where(c.route.not_in([str(Route.HUMAN)])).order_by(desc(c.ts)).limit(limit)
    if since is not None:
        query = query.where(c.ts >= as_utc(since))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [_message(r) for r in reversed(rows) if r.user_text.strip()]


def _messages() -> Select[Any]:
    c = turns.c
    return select(c.turn_id, c.ts, c.user_text, c.route, c.meta["label"].as_string().label("label"),
                  c.meta[("facts", "nearest_phrasing")].as_float().label("nearest"))


def _message(row: Any) -> Message:
    return Message(row.turn_id, as_utc(row.ts), row.user_text, row.route, row.label or "", row.nearest)
