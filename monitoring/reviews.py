"""Auditor reviews of logged turns, and the filtered, paged turn queries behind the review API.

Reviews live in a ``reviews`` table in the turn log's database, one row per review (the latest
wins, earlier ones stay as history). Everything returned is redacted: ``user_text`` was redacted
when logged, bot responses and reviewer text are redacted here.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    cast,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.sql import ColumnElement, Select

from core.db import as_utc
from core.turns import Flag, Route, TurnRecord
from monitoring import turnlog
from monitoring.redact import redact
from monitoring.transcripts import Transcripts
from monitoring.turnlog import turns

review_metadata = MetaData()

reviews = Table(
    "reviews",
    review_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("turn_id", String(64), nullable=False, index=True),
    Column("verdict", String(16), nullable=False),
    Column("correction", Text, nullable=True),
    Column("note", Text, nullable=True),
    Column("reviewer", String(128), nullable=False),
    Column("ts", DateTime(timezone=True), nullable=False),
)

# Routing details shown to auditors; other metadata keys stay out until someone vets them.
ROUTING_KEYS = ("label", "confidence", "grounding", "ranking")
MAX_Q_CHARS = 200


class Verdict(StrEnum):
    """An auditor's judgement of one turn."""

    CORRECT = "correct"
    INCORRECT = "incorrect"
    UNSAFE = "unsafe"


@dataclass(frozen=True)
class Review:
    """One stored review."""

    id: int
    turn_id: str
    verdict: Verdict
    reviewer: str
    ts: datetime
    correction: str | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        """API shape."""
        return {
            "id": self.id,
            "turn_id": self.turn_id,
            "verdict": str(self.verdict),
            "correction": self.correction,
            "note": self.note,
            "reviewer": self.reviewer,
            "ts": self.ts.isoformat(),
        }


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


@dataclass(frozen=True)
class ReviewedTurn:
    """A turn (redacted) with its latest review."""

    record: TurnRecord
    review: Review | None

    def to_json(self) -> dict[str, Any]:
        """API shape: the turn-log JSON plus confidence, feedback and the latest review."""
        return {
            **self.record.to_json(),
            "confidence": self.record.metadata.get("confidence"),
            "feedback": self.record.metadata.get("feedback"),
            "review": self.review.to_json() if self.review else None,
        }


@dataclass(frozen=True)
class TurnPage:
    """One page of turns and the cursor of the next (None on the last page)."""

    items: tuple[ReviewedTurn, ...]
    next_cursor: str | None


@dataclass(frozen=True)
class TurnDetail:
    """A turn with its conversation around it, its evidence and its review history."""

    turn: ReviewedTurn
    before: tuple[TurnRecord, ...]
    after: tuple[TurnRecord, ...]
    reviews: tuple[Review, ...]

    def to_json(self) -> dict[str, Any]:
        """API shape."""
        record = self.turn.record
        return {
            "turn": self.turn.to_json(),
            "latency_ms": {k: round(v, 2) for k, v in record.latency_ms.items()},
            "evidence": {
                "hits": [h.to_json() for h in record.hits],
                "passages": [str(p) for p in record.metadata.get("evidence") or []],
            },
            "routing": {k: record.metadata.get(k) for k in ROUTING_KEYS},
            "context": {
                "before": [r.to_json() for r in self.before],
                "after": [r.to_json() for r in self.after],
            },
            "reviews": [r.to_json() for r in self.reviews],
        }


def redacted(record: TurnRecord) -> TurnRecord:
    """``record`` with every string in its responses redacted and ``ts`` in UTC."""
    return replace(record, ts=as_utc(record.ts), response=tuple(_redact_json(m) for m in record.response))


def _redact_json(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value).text
    if isinstance(value, dict):
        return {k: _redact_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_json(v) for v in value]
    return value


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


def matches_text(record: TurnRecord, q: str) -> bool:
    """Whether ``q`` (case-insensitive) occurs in the user text or a response of a redacted record."""
    needle = q.casefold()
    return needle in record.user_text.casefold() or any(
        needle in s.casefold() for s in _strings(list(record.response))
    )


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _latest_review_ids() -> Select[Any]:
    return select(func.max(reviews.c.id)).group_by(reviews.c.turn_id)


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
        # Flags are stored as a JSON list of plain words, so the quoted word matches exactly.
        where.append(cast(c.flags, Text).like(_like(f'"{f.flag}"'), escape="\\"))
    if f.reviewed is not None:
        has_review = exists().where(reviews.c.turn_id == c.turn_id)
        where.append(has_review if f.reviewed else ~has_review)
    if f.verdict is not None:
        latest = select(reviews.c.turn_id).where(
            reviews.c.id.in_(_latest_review_ids()), reviews.c.verdict == str(f.verdict)
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


def _after(cursor: Cursor, oldest_first: bool) -> ColumnElement[bool]:
    c = turns.c
    if oldest_first:
        return or_(c.ts > cursor.ts, and_(c.ts == cursor.ts, c.turn_id > cursor.turn_id))
    return or_(c.ts < cursor.ts, and_(c.ts == cursor.ts, c.turn_id < cursor.turn_id))


class ReviewStore:
    """Reviews and turn queries on the turn log's database (blocking: call from a worker thread)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self) -> None:
        """Create the turn and review tables when missing."""
        turnlog.metadata.create_all(self.engine)
        review_metadata.create_all(self.engine)

    def add_review(
        self,
        turn_id: str,
        verdict: Verdict,
        reviewer: str,
        correction: str | None = None,
        note: str | None = None,
        now: datetime | None = None,
    ) -> Review | None:
        """Store a review (correction and note redacted); None when the turn is not logged."""
        review = Review(
            id=0,
            turn_id=turn_id,
            verdict=Verdict(verdict),
            reviewer=reviewer,
            ts=as_utc(now or datetime.now(UTC)),
            correction=redact(correction).text if correction is not None else None,
            note=redact(note).text if note is not None else None,
        )
        row = {**{k: v for k, v in asdict(review).items() if k != "id"}, "verdict": str(review.verdict)}
        with self.engine.begin() as conn:
            if conn.execute(select(turns.c.turn_id).where(turns.c.turn_id == turn_id)).first() is None:
                return None
            key = conn.execute(reviews.insert().values(**row)).inserted_primary_key
        assert key is not None
        return replace(review, id=int(key[0]))

    def reviews_of(self, turn_id: str) -> list[Review]:
        """Every review of a turn, newest first."""
        query = select(reviews).where(reviews.c.turn_id == turn_id).order_by(reviews.c.id.desc())
        with self.engine.connect() as conn:
            return [_review(row) for row in conn.execute(query)]

    def list_turns(
        self,
        filters: TurnFilter,
        limit: int = 50,
        cursor: Cursor | None = None,
        *,
        oldest_first: bool = False,
    ) -> TurnPage:
        """One page of matching turns, newest first unless ``oldest_first``."""
        found: list[TurnRecord] = []
        has_more = False
        # The text search finishes in Python; read in chunks until the page is full.
        chunk = limit + 1 if not filters.q else max(4 * limit, 200)
        position = cursor
        with self.engine.connect() as conn:
            while not has_more:
                rows = list(conn.execute(self._page_query(filters, chunk, position, oldest_first)))
                for row in rows:
                    record = redacted(turnlog.record_of(row))
                    if filters.q and not matches_text(record, filters.q):
                        continue
                    if len(found) == limit:
                        has_more = True
                        break
                    found.append(record)
                if len(rows) < chunk:
                    break
                position = Cursor(as_utc(rows[-1].ts), rows[-1].turn_id)
            latest = self._latest_reviews(conn, [r.turn_id for r in found])
        items = tuple(ReviewedTurn(r, latest.get(r.turn_id)) for r in found)
        next_cursor = Cursor(found[-1].ts, found[-1].turn_id).encode() if has_more else None
        return TurnPage(items, next_cursor)

    def iter_pages(self, filters: TurnFilter, page_size: int = 500) -> Iterator[tuple[ReviewedTurn, ...]]:
        """Every matching turn, oldest first, one page at a time (for exports)."""
        cursor: Cursor | None = None
        while True:
            page = self.list_turns(filters, page_size, cursor, oldest_first=True)
            yield page.items
            if page.next_cursor is None:
                return
            cursor = Cursor.decode(page.next_cursor)

    def turn_detail(self, turn_id: str, context: int = 5) -> TurnDetail | None:
        """A turn with up to ``context`` turns before and after it in its conversation."""
        found = Transcripts(self.engine).around(turn_id, context)
        if found is None:
            return None
        history = tuple(self.reviews_of(turn_id))
        record = redacted(found.turn.record)
        return TurnDetail(
            ReviewedTurn(record, history[0] if history else None),
            tuple(redacted(t.record) for t in found.before),
            tuple(redacted(t.record) for t in found.after),
            history,
        )

    @staticmethod
    def _page_query(
        filters: TurnFilter, limit: int, cursor: Cursor | None, oldest_first: bool
    ) -> Select[Any]:
        query = select(turns).where(*_conditions(filters))
        if cursor is not None:
            query = query.where(_after(cursor, oldest_first))
        order = (turns.c.ts, turns.c.turn_id) if oldest_first else (turns.c.ts.desc(), turns.c.turn_id.desc())
        return query.order_by(*order).limit(limit)

    @staticmethod
    def _latest_reviews(conn: Any, turn_ids: Sequence[str]) -> dict[str, Review]:
        if not turn_ids:
            return {}
        query = select(reviews).where(reviews.c.turn_id.in_(turn_ids)).order_by(reviews.c.id)
        return {row.turn_id: _review(row) for row in conn.execute(query)}


def _review(row: Any) -> Review:
    return Review(
        id=row.id,
        turn_id=row.turn_id,
        verdict=Verdict(row.verdict),
        reviewer=row.reviewer,
        ts=as_utc(row.ts),
        correction=row.correction,
        note=row.note,
    )
