"""The auditors' turn filters and keyset paging over the turn log (newest or oldest first)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, exists, func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql import ColumnElement, Select

from core.db import as_utc
from core.turns import Flag, Route, TurnRecord
from monitoring.turnlog.reviews import Verdict, latest_review_ids, reviews
from monitoring.turnlog.table import beyond, has_flag, record_of, turns

View = Callable[[TurnRecord], TurnRecord]


@dataclass(frozen=True)
class TurnFilter:
    """Which turns to list; every field left as None matches everything."""

    flag: Flag | None = None
    route: Route | None = None
    reviewed: bool | None = None
    verdict: Verdict | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None
    min_score: float | None = None
    max_score: float | None = None


@dataclass(frozen=True)
class Cursor:
    """Position after the last turn of a page (keyset paging on ``ts, turn_id``)."""

    ts: datetime
    turn_id: str

    def encode(self) -> str:
        """Opaque URL-safe token."""
        raw = json.dumps([as_utc(self.ts).isoformat(), self.turn_id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """Parse a token from :meth:`encode`; ValueError when it is not one."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            ts, turn_id = json.loads(raw)
            return cls(as_utc(datetime.fromisoformat(ts)), str(turn_id))
        except (binascii.Error, ValueError, TypeError) as err:
            raise ValueError("not a cursor from a previous page") from err


def page(
    engine: Engine,
    filters: TurnFilter,
    limit: int,
    cursor: Cursor | None = None,
    *,
    view: View,
    oldest_first: bool = False,
) -> tuple[list[TurnRecord], Cursor | None]:
    """Up to ``limit`` matching turns as ``view`` shows them, and the cursor of the next page."""
    found: list[TurnRecord] = []
    # The text search finishes in Python; read in chunks until the page is full.
    chunk = limit + 1 if not filters.q else max(4 * limit, 200)
    for record in matching(engine, filters, view=view, cursor=cursor, oldest_first=oldest_first, chunk=chunk):
        if len(found) == limit:
            return found, Cursor(found[-1].ts, found[-1].turn_id)
        found.append(record)
    return found, None


def matching(
    engine: Engine,
    filters: TurnFilter,
    *,
    view: View,
    cursor: Cursor | None = None,
    oldest_first: bool = False,
    chunk: int = 200,
) -> Iterator[TurnRecord]:
    """Every matching turn after ``cursor``, as ``view`` shows them (a redaction), in page order.

    The text search ``q`` is decided on the viewed record, so it never finds what the view hides.
    """
    position = cursor
    while True:
        with engine.connect() as conn:
            rows = list(conn.execute(_query(filters, chunk, position, oldest_first)))
        for row in rows:
            record = view(record_of(row))
            if not filters.q or matches_text(record, filters.q):
                yield record
        if len(rows) < chunk:
            return
        position = Cursor(as_utc(rows[-1].ts), rows[-1].turn_id)


def matches_text(record: TurnRecord, q: str) -> bool:
    """Whether ``q`` (case-insensitive) occurs in the user text or a response of a record."""
    needle = q.casefold()
    return needle in record.user_text.casefold() or any(
        needle in s.casefold() for s in _strings(list(record.response))
    )


def _strings(value: Any, skip: str = "recipient_id") -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key != skip:
                yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(f: TurnFilter) -> list[ColumnElement[bool]]:
    c = turns.c
    where: list[ColumnElement[bool]] = []
    if f.route is not None:
        where.append(c.route == str(f.route))
    if f.since is not None:
        where.append(c.ts >= as_utc(f.since))
    if f.until is not None:
        where.append(c.ts < as_utc(f.until))
    if f.flag is not None:
        where.append(has_flag(f.flag))
    if f.reviewed is not None:
        has_review = exists().where(reviews.c.turn_id == c.turn_id)
        where.append(has_review if f.reviewed else ~has_review)
    if f.verdict is not None:
        latest = select(reviews.c.turn_id).where(
            reviews.c.id.in_(latest_review_ids()), reviews.c.verdict == str(f.verdict)
        )
        where.append(c.turn_id.in_(latest))
    confidence = c.meta["confidence"].as_float()
    if f.min_score is not None:
        where.append(confidence >= f.min_score)
    if f.max_score is not None:
        where.append(confidence <= f.max_score)
    if f.q:
        # A superset in SQL (responses are JSON text with \\u escapes); matches_text decides.
        where.append(
            or_(
                func.lower(c.user_text).like(_like(f.q.lower()), escape="\\"),
                func.lower(cast(c.response, Text)).like(_like(json.dumps(f.q)[1:-1].lower()), escape="\\"),
            )
        )
    return where


def _query(filters: TurnFilter, limit: int, cursor: Cursor | None, oldest_first: bool) -> Select[Any]:
    query = select(turns).where(*_conditions(filters))
    if cursor is not None:
        query = query.where(beyond(cursor.ts, cursor.turn_id, later=oldest_first))
    order = (turns.c.ts, turns.c.turn_id) if oldest_first else (turns.c.ts.desc(), turns.c.turn_id.desc())
    return query.order_by(*order).limit(limit)
