"""Server-side sessions: hashed tokens, sliding idle expiry, an absolute limit, sign-out."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.auth.sessions import SessionStore, sessions
from core.db import make_engine


class Clock:
    """Seconds since the epoch that the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'sessions.sqlite3'}")
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def store(engine: Engine, clock: Clock, idle: float = 100, max_s: float = 1000) -> SessionStore:
    s = SessionStore(engine, idle, max_s, refresh_s=10, clock=clock)
    s.create()
    return s


def rows(engine: Engine) -> list[tuple[str, ...]]:
    with engine.connect() as conn:
        return [tuple(str(v) for v in row) for row in conn.execute(select(sessions))]


def test_only_the_token_hash_is_stored(engine: Engine, clock: Clock) -> None:
    issued = store(engine, clock).issue("alice")
    assert len(issued.token) >= 40
    [row] = rows(engine)
    assert row[0] == hashlib.sha256(issued.token.encode()).hexdigest() == issued.session.token_sha256
    assert not any(issued.token in value for value in row)
    assert issued.token not in repr(issued)


def test_idle_expiry_slides_with_use(engine: Engine, clock: Clock) -> None:
    s = store(engine, clock)
    issued = s.issue("alice")
    start = issued.session.expires_at
    clock.now += 5
    first = s.lookup(issued.token)
    assert first is not None and first.expires_at == start, "refreshes are written at most every 10 s"
    clock.now += 45
    slid = s.lookup(issued.token)
    assert slid is not None and (slid.expires_at - start).total_seconds() == 50
    clock.now += 99
    assert s.lookup(issued.token) is not None, "still alive 99 s after the last use"
    clock.now += 101
    assert s.lookup(issued.token) is None
    assert rows(engine) == [], "the expired row is gone"


def test_sessions_end_at_the_absolute_limit(engine: Engine, clock: Clock) -> None:
    s = store(engine, clock, idle=100, max_s=250)
    issued = s.issue("alice")
    for _ in range(2):
        clock.now += 90
        assert s.lookup(issued.token) is not None
    clock.now += 60
    session = s.lookup(issued.token)
    assert session is not None
    assert (session.expires_at - session.created_at).total_seconds() == 250, "capped, not now + 100"
    clock.now += 11
    assert s.lookup(issued.token) is None, "used all along, but 251 s after sign-in"


def test_unknown_and_garbage_tokens(engine: Engine, clock: Clock) -> None:
    s = store(engine, clock)
    s.issue("alice")
    for token in ("", "nope", "x" * 10_000, "\x00"):
        assert s.lookup(token) is None


def test_revoke_one_or_all(engine: Engine, clock: Clock) -> None:
    s = store(engine, clock)
    a1, a2, b = s.issue("alice"), s.issue("alice"), s.issue("bob")
    s.revoke(a1.session.token_sha256)
    assert s.lookup(a1.token) is None and s.lookup(a2.token) is not None
    assert s.revoke_user("alice") == 1
    assert s.lookup(a2.token) is None and s.lookup(b.token) is not None


def test_workers_share_sessions_through_the_database(engine: Engine, tmp_path: Path, clock: Clock) -> None:
    issued = store(engine, clock).issue("alice")
    other = make_engine(f"sqlite:///{tmp_path / 'sessions.sqlite3'}")
    try:
        found = store(other, clock).lookup(issued.token)
        assert found is not None and found.username == "alice"
    finally:
        other.dispose()


def test_expired_sessions_are_swept(engine: Engine, clock: Clock) -> None:
    s = store(engine, clock)
    old = s.issue("alice")
    clock.now += 150
    assert s.purge_expired() == 1
    fresh = s.issue("bob")
    clock.now += 150
    s.issue("carol")
    assert s.lookup(old.token) is None and s.lookup(fresh.token) is None
    assert len(rows(engine)) == 1, "issuing sweeps expired rows"
