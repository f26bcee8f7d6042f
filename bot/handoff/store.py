"""The handoff queue in one SQL table, so every worker sees the same state."""

from __future__ import annotations

import builtins
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.sql import ColumnElement

from core.db import as_utc
from core.errors import Conflict, Forbidden, NotFound

metadata = MetaData()

handoffs = Table(
    "handoffs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("conversation_id", String(128), nullable=False, index=True),
    Column("reason", String(32), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("claimed_by", String(64), nullable=True),
    Column("claimed_at", DateTime(timezone=True), nullable=True),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Column("last_message", Text, nullable=False, default=""),
    Column("last_message_at", DateTime(timezone=True), nullable=False),
)


class HandoffStatus(StrEnum):
    """Pending: waiting for a person; assigned: a person has it; resolved: back to the bot."""

    PENDING = "pending"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"


ACTIVE = (HandoffStatus.PENDING, HandoffStatus.ASSIGNED)


@dataclass(frozen=True)
class Handoff:
    """One request for a person, as the staff API shows it."""

    id: str
    conversation_id: str
    reason: str
    status: HandoffStatus
    created_at: datetime
    claimed_by: str | None
    claimed_at: datetime | None
    resolved_at: datetime | None
    last_message: str
    last_message_at: datetime

    def waiting_s(self, now: datetime | None = None) -> float:
        """Seconds the shopper waited (or has been waiting) for a person."""
        end = self.claimed_at or self.resolved_at or now or datetime.now(UTC)
        return max(0.0, (end - self.created_at).total_seconds())

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        """The staff API shape."""
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "reason": self.reason,
            "status": str(self.status),
            "created_at": self.created_at.isoformat(),
            "waiting_s": round(self.waiting_s(now), 1),
            "assignee": self.claimed_by,
            "claimed_at": self.claimed_at.isoformat() if self.claimed_at else None,
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "last_message": self.last_message,
            "last_message_at": self.last_message_at.isoformat(),
        }


def _handoff(row: Any) -> Handoff:
    return Handoff(
        id=row.id,
        conversation_id=row.conversation_id,
        reason=row.reason,
        status=HandoffStatus(row.status),
        created_at=as_utc(row.created_at),
        claimed_by=row.claimed_by,
        claimed_at=as_utc(row.claimed_at) if row.claimed_at else None,
        resolved_at=as_utc(row.resolved_at) if row.resolved_at else None,
        last_message=row.last_message or "",
        last_message_at=as_utc(row.last_message_at),
    )


class HandoffStore:
    """Open, list, claim and resolve handoffs (blocking calls: run them off the event loop)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self) -> None:
        """Create the table when missing."""
        metadata.create_all(self.engine)

    def active(self, conversation_id: str) -> Handoff | None:
        """The pending or assigned handoff of a conversation, if any."""
        query = select(handoffs).where(
            handoffs.c.conversation_id == conversation_id, handoffs.c.status.in_([str(s) for s in ACTIVE])
        )
        with self.engine.connect() as conn:
            row = conn.execute(query.order_by(handoffs.c.created_at.desc())).first()
        return _handoff(row) if row else None

    def open(self, conversation_id: str, reason: str, last_message: str) -> tuple[Handoff, bool]:
        """The conversation's active handoff, opening one when there is none; True when new."""
        current = self.active(conversation_id)
        if current is not None:
            return current, False
        now = datetime.now(UTC)
        handoff_id = uuid.uuid4().hex
        values = {
            "id": handoff_id, "conversation_id": conversation_id, "reason": reason,
            "status": str(HandoffStatus.PENDING), "created_at": now, "last_message": last_message,
            "last_message_at": now,
        }
        with self.engine.begin() as conn:
            conn.execute(handoffs.insert().values(**values))
        return self.get(handoff_id), True

    def get(self, handoff_id: str) -> Handoff:
        """One handoff by id."""
        with self.engine.connect() as conn:
            row = conn.execute(select(handoffs).where(handoffs.c.id == handoff_id)).first()
        if row is None:
            raise NotFound(f"no handoff {handoff_id!r}")
        return _handoff(row)

    def list(self, status: HandoffStatus | None = None, limit: int = 200) -> list[Handoff]:
        """Handoffs, oldest first (the queue order), optionally of one status."""
        query = select(handoffs).order_by(handoffs.c.created_at).limit(limit)
        if status is not None:
            query = query.where(handoffs.c.status == str(status))
        with self.engine.connect() as conn:
            return [_handoff(r) for r in conn.execute(query)]

    def position(self, handoff: Handoff) -> int:
        """1-based place in the pending queue (0 once claimed)."""
        if handoff.status is not HandoffStatus.PENDING:
            return 0
        query = select(func.count()).select_from(handoffs).where(
            handoffs.c.status == str(HandoffStatus.PENDING), handoffs.c.created_at <= handoff.created_at
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def counts(self) -> dict[str, int]:
        """Number of handoffs in each state."""
        query = select(handoffs.c.status, func.count()).group_by(handoffs.c.status)
        with self.engine.connect() as conn:
            found = {status: int(n) for status, n in conn.execute(query)}
        return {str(s): found.get(str(s), 0) for s in HandoffStatus}

    def claim(self, handoff_id: str, username: str) -> Handoff:
        """Assign a pending handoff to ``username`` (idempotent for the same person)."""
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            # One UPDATE with the state in its WHERE: two workers cannot both claim it.
            done = conn.execute(
                update(handoffs)
                .where(handoffs.c.id == handoff_id, handoffs.c.status == str(HandoffStatus.PENDING))
                .values(status=str(HandoffStatus.ASSIGNED), claimed_by=username, claimed_at=now)
            ).rowcount
        handoff = self.get(handoff_id)
        if not done and not (handoff.status is HandoffStatus.ASSIGNED and handoff.claimed_by == username):
            raise Conflict(f"handoff {handoff_id} is {handoff.status}"
                           + (f" by {handoff.claimed_by}" if handoff.claimed_by else ""))
        return handoff

    def resolve(self, handoff_id: str, username: str, is_admin: bool = False) -> Handoff:
        """Close an active handoff: the bot answers the conversation again.

        Only its assignee (or an admin) may close an assigned handoff; a pending one, anyone.
        """
        allowed: list[ColumnElement[bool]] = [handoffs.c.status.in_([str(s) for s in ACTIVE])]
        if not is_admin:
            allowed.append(or_(handoffs.c.claimed_by.is_(None), handoffs.c.claimed_by == username))
        with self.engine.begin() as conn:
            # One UPDATE with the rule in its WHERE: a claim racing the resolve cannot slip past it.
            done = conn.execute(
                update(handoffs)
                .where(handoffs.c.id == handoff_id, *allowed)
                .values(status=str(HandoffStatus.RESOLVED), resolved_at=datetime.now(UTC))
            ).rowcount
        handoff = self.get(handoff_id)
        if not done:
            if handoff.status in ACTIVE:
                raise Forbidden(f"handoff {handoff_id} is assigned to {handoff.claimed_by}")
            raise Conflict(f"handoff {handoff_id} is already {handoff.status}")
        return handoff

    def active_all(self) -> builtins.list[Handoff]:
        """Every pending or assigned handoff."""
        query = select(handoffs).where(handoffs.c.status.in_([str(s) for s in ACTIVE]))
        with self.engine.connect() as conn:
            return [_handoff(r) for r in conn.execute(query)]

    def touch(self, handoff_id: str, last_message: str) -> None:
        """Record the latest message of the conversation for the queue view."""
        with self.engine.begin() as conn:
            conn.execute(
                update(handoffs).where(handoffs.c.id == handoff_id)
                .values(last_message=last_message[:500], last_message_at=datetime.now(UTC))
            )
