"""Auditors' reviews of logged turns: the ``reviews`` table in the turn log's database.

One row per review; the latest of a turn wins, earlier ones stay as history. The review text
comes in already redacted (``monitoring.reviews.ReviewStore`` redacts it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, func, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Select

from core.db import as_utc
from monitoring.turnlog.table import turns

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
class ReviewedMessage:
    """A reviewed turn's shopper message (redacted as logged), what the bot did, the latest verdict."""

    turn_id: str
    verdict: Verdict
    text: str
    route: str
    label: str


def create(engine: Engine) -> None:
    """Create the review table when missing."""
    review_metadata.create_all(engine)


def add_review(engine: Engine, review: Review) -> Review | None:
    """Store ``review`` (its ``id`` is assigned); None when its turn is not logged."""
    row = {**{k: v for k, v in asdict(review).items() if k != "id"}, "verdict": str(review.verdict)}
    with engine.begin() as conn:
        if conn.execute(select(turns.c.turn_id).where(turns.c.turn_id == review.turn_id)).first() is None:
            return None
        key = conn.execute(reviews.insert().values(**row)).inserted_primary_key
    assert key is not None
    return replace(review, id=int(key[0]))


def reviews_of(engine: Engine, turn_id: str) -> list[Review]:
    """Every review of a turn, newest first."""
    query = select(reviews).where(reviews.c.turn_id == turn_id).order_by(reviews.c.id.desc())
    with engine.connect() as conn:
        return [_review(row) for row in conn.execute(query)]


def latest_reviews(engine: Engine, turn_ids: Sequence[str]) -> dict[str, Review]:
    """The latest review of each of ``turn_ids`` that has one."""
    if not turn_ids:
        return {}
    query = select(reviews).where(reviews.c.turn_id.in_(turn_ids)).order_by(reviews.c.id)
    with engine.connect() as conn:
        return {row.turn_id: _review(row) for row in conn.execute(query)}


def latest_review_ids() -> Select[Any]:
    """The ids of each turn's latest review (a subquery)."""
    return select(func.max(reviews.c.id)).group_by(reviews.c.turn_id)


def reviewed_messages(engine: Engine) -> list[ReviewedMessage]:
    """Every reviewed turn with its latest verdict, oldest review first (empty before any review)."""
    if not {reviews.name, turns.name} <= set(inspect(engine).get_table_names()):
        return []
    latest = (select(reviews.c.turn_id, func.max(reviews.c.id).label("id"))
              .group_by(reviews.c.turn_id).subquery())
    query = (
        select(reviews.c.turn_id, reviews.c.verdict, turns.c.user_text, turns.c.route, turns.c.meta)
        .join(latest, reviews.c.id == latest.c.id)
        .join(turns, turns.c.turn_id == reviews.c.turn_id)
        .order_by(reviews.c.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [ReviewedMessage(r.turn_id, Verdict(r.verdict), r.user_text, r.route,
                            str((r.meta or {}).get("label") or "")) for r in rows]


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
