"""Knowledge changes promoted by auditors: new FAQ entries or new phrasings, versioned, undoable.

They live in one SQL table beside the turn log, so every worker and ``shopbot train`` see the
same changes; the files under ``data/`` are never rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, func, select, update
from sqlalchemy.engine import Engine

from core.db import as_utc
from core.errors import Conflict, NotFound
from retrieval.knowledge import KnowledgeEntry

metadata = MetaData()

changes = Table(
    "knowledge_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("entry_id", String(128), nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=True),
    Column("turn_id", String(64), nullable=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("undone_by", String(64), nullable=True),
    Column("undone_at", DateTime(timezone=True), nullable=True),
)


class ChangeKind(StrEnum):
    """A new FAQ entry, or one more phrasing of an entry that exists."""

    NEW_ENTRY = "new_entry"
    NEW_PHRASING = "new_phrasing"


@dataclass(frozen=True)
class KnowledgeChange:
    """One promoted change; ``undone_at`` set means it no longer applies."""

    id: int
    kind: ChangeKind
    entry_id: str
    question: str
    answer: str | None
    turn_id: str | None
    created_by: str
    created_at: datetime
    undone_by: str | None = None
    undone_at: datetime | None = None

    @property
    def active(self) -> bool:
        """Whether the change applies now."""
        return self.undone_at is None

    def to_json(self) -> dict[str, Any]:
        """The API shape."""
        return {
            "id": self.id, "kind": str(self.kind), "entry_id": self.entry_id, "question": self.question,
            "answer": self.answer, "turn_id": self.turn_id, "created_by": self.created_by,
            "created_at": self.created_at.isoformat(), "active": self.active,
            "undone_by": self.undone_by,
            "undone_at": self.undone_at.isoformat() if self.undone_at else None,
        }


def _change(row: Any) -> KnowledgeChange:
    return KnowledgeChange(
        id=int(row.id), kind=ChangeKind(row.kind), entry_id=row.entry_id, question=row.question,
        answer=row.answer, turn_id=row.turn_id, created_by=row.created_by,
        created_at=as_utc(row.created_at), undone_by=row.undone_by,
        undone_at=as_utc(row.undone_at) if row.undone_at else None,
    )


def new_entry_id(question: str, taken: set[str]) -> str:
    """A readable, unused id for a promoted question: ``promoted_<words>``."""
    words = re.findall(r"[a-z0-9]+", question.lower())[:5]
    base = "promoted_" + ("_".join(words) or "entry")
    candidate, n = base[:100], 2
    while candidate in taken:
        candidate, n = f"{base[:96]}_{n}", n + 1
    return candidate


class CorrectionStore:
    """Add, list and undo knowledge changes (blocking: call from a thread)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self) -> None:
        """Create the table when missing."""
        metadata.create_all(self.engine)

    def add(self, kind: ChangeKind, entry_id: str, question: str, answer: str | None, *,
            turn_id: str | None, by: str) -> KnowledgeChange:
        """Record a change; the newest version of the knowledge includes it."""
        values = {"kind": str(kind), "entry_id": entry_id, "question": question, "answer": answer,
                  "turn_id": turn_id, "created_by": by, "created_at": datetime.now(UTC)}
        with self.engine.begin() as conn:
            key = conn.execute(changes.insert().values(**values)).inserted_primary_key
        assert key is not None
        return self.get(int(key[0]))

    def get(self, change_id: int) -> KnowledgeChange:
        """One change by id."""
        with self.engine.connect() as conn:
            row = conn.execute(select(changes).where(changes.c.id == change_id)).first()
        if row is None:
            raise NotFound(f"no knowledge change {change_id}")
        return _change(row)

    def list(self, *, active_only: bool = False) -> list[KnowledgeChange]:
        """Changes, oldest first."""
        query = select(changes).order_by(changes.c.id)
        if active_only:
            query = query.where(changes.c.undone_at.is_(None))
        with self.engine.connect() as conn:
            return [_change(r) for r in conn.execute(query)]

    def undo(self, change_id: int, by: str) -> KnowledgeChange:
        """Withdraw a change; the knowledge goes back to what it was without it."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(changes).where(changes.c.id == change_id, changes.c.undone_at.is_(None))
                .values(undone_by=by, undone_at=datetime.now(UTC))
            ).rowcount
        change = self.get(change_id)
        if not done:
            raise Conflict(f"knowledge change {change_id} was already undone")
        return change

    def version(self) -> str:
        """Changes whenever a change is added or undone (cheap: one aggregate query)."""
        query = select(func.count(), func.max(changes.c.id), func.count(changes.c.undone_at))
        with self.engine.connect() as conn:
            total, newest, undone = conn.execute(query).one()
        return f"{total}:{newest or 0}:{undone}"


def stored_changes(engine: Engine) -> list[KnowledgeChange]:
    """The active changes in the database (none when the table does not exist yet)."""
    from sqlalchemy import inspect

    if not inspect(engine).has_table(changes.name):
        return []
    return CorrectionStore(engine).list(active_only=True)


def apply_changes(
    entries: Sequence[KnowledgeEntry], active: Sequence[KnowledgeChange]
) -> list[KnowledgeEntry]:
    """The knowledge with the active changes applied, in order (for training and answering)."""
    out = list(entries)
    index = {e.id: i for i, e in enumerate(out)}
    for change in active:
        if change.kind is ChangeKind.NEW_PHRASING and change.entry_id in index:
            i = index[change.entry_id]
            if change.question not in out[i].questions:
                out[i] = replace(out[i], questions=(*out[i].questions, change.question))
        elif change.kind is ChangeKind.NEW_ENTRY and change.entry_id not in index:
            index[change.entry_id] = len(out)
            out.append(KnowledgeEntry(change.entry_id, (change.question,), change.answer))
    return out
