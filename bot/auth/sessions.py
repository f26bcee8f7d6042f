"""Server-side sessions in the ``sessions`` table, so every worker sees the same ones.

Only the SHA-256 of each random token is stored: a leaked table opens no session.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, select, update
from sqlalchemy.engine import Engine

from core.db import as_utc

MAX_TOKEN_CHARS = 256

metadata = MetaData()

sessions = Table(
    "sessions",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("username", String(64), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)


@dataclass(frozen=True)
class Session:
    """One signed-in browser; identified by the hash of its token, never the token."""

    token_sha256: str
    username: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class IssuedSession:
    """A new session with its token, which goes into the cookie and nowhere else."""

    token: str = field(repr=False)
    session: Session


def token_hash(token: str) -> str:
    """Hex SHA-256 of a session token: the key it is stored under."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _session(row: Any, expires_at: datetime | None = None) -> Session:
    expires = expires_at or as_utc(row.expires_at)
    return Session(row.token_sha256, row.username, as_utc(row.created_at), expires)


class SessionStore:
    """Sessions that expire after ``idle_s`` without use and ``max_s`` after sign-in.

    Each use slides the idle expiry forward, written at most once per ``refresh_s`` so
    busy consoles do not write on every request. Synchronous: call it from a worker thread.
    """

    def __init__(
        self,
        engine: Engine,
        idle_s: float,
        max_s: float,
        *,
        refresh_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.idle = timedelta(seconds=idle_s)
        self.max_age = timedelta(seconds=max_s)
        self.refresh = timedelta(seconds=refresh_s)
        self.clock = clock

    def create(self) -> None:
        """Create the table when missing."""
        metadata.create_all(self.engine)

    def issue(self, username: str) -> IssuedSession:
        """Start a session for ``username`` (and sweep out expired ones)."""
        token = secrets.token_urlsafe(32)
        now = self._now()
        session = Session(token_hash(token), username, now, min(now + self.idle, now + self.max_age))
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.expires_at <= now))
            conn.execute(
                sessions.insert(),
                {
                    "token_sha256": session.token_sha256,
                    "username": username,
                    "created_at": now,
                    "expires_at": session.expires_at,
                },
            )
        return IssuedSession(token, session)

    def lookup(self, token: str) -> Session | None:
        """The live session of ``token``, its expiry slid forward; None when unknown or expired."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        digest = token_hash(token)
        now = self._now()
        with self.engine.begin() as conn:
            row = conn.execute(select(sessions).where(sessions.c.token_sha256 == digest)).first()
            if row is None:
                return None
            expires_at = as_utc(row.expires_at)
            if expires_at <= now:
                conn.execute(delete(sessions).where(sessions.c.token_sha256 == digest))
                return None
            slid = min(now + self.idle, as_utc(row.created_at) + self.max_age)
            if slid - expires_at < self.refresh:
                return _session(row)
            conn.execute(update(sessions).where(sessions.c.token_sha256 == digest).values(expires_at=slid))
            return _session(row, slid)

    def revoke(self, token_sha256: str) -> None:
        """End one session (sign out)."""
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.token_sha256 == token_sha256))

    def revoke_user(self, username: str) -> int:
        """End every session of ``username``; how many there were."""
        with self.engine.begin() as conn:
            result = conn.execute(delete(sessions).where(sessions.c.username == username))
        return int(result.rowcount)

    def purge_expired(self) -> int:
        """Delete expired sessions; how many went."""
        with self.engine.begin() as conn:
            result = conn.execute(delete(sessions).where(sessions.c.expires_at <= self._now()))
        return int(result.rowcount)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)
