"""A conversation's state in the database too, for the workers to share while Redis is away.

With several workers, a conversation's next message can reach a worker whose own copy of its
state is older than what another worker wrote since: before an outage to Redis, during one to
its own memory. Reading that copy answers the follow-up about the wrong thing ("where is it
now?" about the order named two messages ago). So every write of a Redis-backed store also goes
here, newest wins, and while Redis is away the stores read this table rather than their own
memory. The body is encrypted (Fernet, with a key derived from the server's pseudonym key): a
Rasa project's slots may hold whatever its forms collect, and the database keeps it for days.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import BigInteger, Column, LargeBinary, MetaData, String, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from core.ratelog import RateLimitedLog

log = logging.getLogger(__name__)
# A database outage fails every write: one line per interval with a count.
_log = RateLimitedLog(log, 30.0)

metadata = MetaData()

conversation_state = Table(
    "conversation_state",
    metadata,
    # Which store wrote it ("slots", "rasa"): each keeps its own kind of state.
    Column("store", String(16), primary_key=True),
    Column("conversation_id", String(255), primary_key=True),
    Column("body", LargeBinary, nullable=False),
    # Wall-clock milliseconds of the write: the newer write wins, whichever worker made it.
    Column("written_ms", BigInteger, nullable=False, index=True),
)

# How long an idle conversation's state is kept (in Redis and here): a week.
STATE_TTL_S = 7 * 24 * 3600
# For this long after a worker finds Redis back, its reads also look here: another worker may not
# have noticed yet (it probes once a second) and still write only to the database.
RECOVERY_S = 10.0
# How far apart the workers' clocks may be: an outage's writes are restored from this long before
# the worker noticed it.
CLOCK_SKEW_MS = 5_000
# Expired rows are deleted once every so many writes (one indexed DELETE), not on each.
_PRUNE_EVERY = 1000


def state_key(pseudonym_key: bytes) -> bytes:
    """The Fernet key of conversation state, derived from (never equal to) the pseudonym key."""
    digest = hmac.new(pseudonym_key, b"shopbot conversation state", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest)


class StateBackup:
    """One store's conversation state in the ``conversation_state`` table, encrypted, newest wins.

    Both methods run the database call in a thread. A failed write is logged (rate-limited) and
    dropped: Redis or the worker's memory still has the state; a failed read returns None.
    """

    def __init__(self, engine: Engine, store: str, key: bytes, ttl_s: int) -> None:
        self._engine = engine
        self._store = store
        self._fernet = Fernet(key)
        self._ttl_ms = ttl_s * 1000
        self._writes = 0

    async def save(self, conversation_id: str, body: str, written_ms: int) -> None:
        """Keep ``body`` as the conversation's state unless a newer write is already kept."""
        try:
            await asyncio.to_thread(self._save, conversation_id, body, written_ms)
        except Exception as err:  # noqa: BLE001 - a backup: the answer goes on without it
            _log.warning("save", "could not back up %s state in the database: %s: %s",
                         self._store, type(err).__name__, err)

    async def load(self, conversation_id: str) -> tuple[str, int] | None:
        """The conversation's newest kept state and when it was written, or None."""
        try:
            return await asyncio.to_thread(self._load, conversation_id)
        except Exception as err:  # noqa: BLE001 - the caller falls back to its own memory
            _log.warning("load", "could not read %s state from the database: %s: %s",
                         self._store, type(err).__name__, err)
            return None

    async def newer(self, conversation_id: str, than: int | None) -> str | None:
        """The kept state if it was written after ``than`` (ms; None: any), else None: this
        worker's own copy written while Redis was away (its write here failed), or what Redis
        holds, is as new."""
        kept = await self.load(conversation_id)
        if kept is None or (than is not None and than >= kept[1]):
            return None
        return kept[0]

    async def restore(self, since_ms: int, write: Callable[[str, str, int], Awaitable[object]]) -> None:
        """``write(conversation_id, body, written_ms)`` each state kept since ``since_ms``, oldest first.

        What a worker back from a Redis outage hands Redis first: every worker's writes of the
        outage, not only its own, so no worker then reads a conversation's older state from Redis.
        A database failure is logged and nothing is restored; ``write``'s errors propagate.
        """
        try:
            rows = await asyncio.to_thread(self._since, since_ms)
        except Exception as err:  # noqa: BLE001 - Redis still gets this worker's own kept writes
            _log.warning("restore", "could not read %s state from the database: %s: %s",
                         self._store, type(err).__name__, err)
            return
        for conversation_id, body, written in rows:
            await write(conversation_id, body, written)

    def _since(self, since_ms: int) -> list[tuple[str, str, int]]:
        query = (select(conversation_state.c.conversation_id, conversation_state.c.body,
                        conversation_state.c.written_ms)
                 .where(conversation_state.c.store == self._store,
                        conversation_state.c.written_ms >= since_ms)
                 .order_by(conversation_state.c.written_ms))
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        out = []
        for row in rows:
            try:
                out.append((row.conversation_id, self._fernet.decrypt(bytes(row.body)).decode(),
                            int(row.written_ms)))
            except InvalidToken:
                continue
        return out

    def _save(self, conversation_id: str, body: str, written_ms: int) -> None:
        values = {"store": self._store, "conversation_id": conversation_id,
                  "body": self._fernet.encrypt(body.encode()), "written_ms": written_ms}
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(conversation_state).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["store", "conversation_id"],
            set_={"body": stmt.excluded.body, "written_ms": stmt.excluded.written_ms},
            # An older write (a slow worker) never replaces a newer one.
            where=conversation_state.c.written_ms <= stmt.excluded.written_ms,
        )
        with self._engine.begin() as conn:
            conn.execute(stmt)
            self._writes += 1
            if self._writes % _PRUNE_EVERY == 0:
                conn.execute(delete(conversation_state).where(
                    conversation_state.c.written_ms < int(time.time() * 1000) - self._ttl_ms))

    def _load(self, conversation_id: str) -> tuple[str, int] | None:
        query = select(conversation_state.c.body, conversation_state.c.written_ms).where(
            conversation_state.c.store == self._store,
            conversation_state.c.conversation_id == conversation_id,
            conversation_state.c.written_ms >= int(time.time() * 1000) - self._ttl_ms,
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        try:
            return self._fernet.decrypt(bytes(row.body)).decode(), int(row.written_ms)
        except InvalidToken:  # written under another key (the pseudonym key changed): unreadable
            return None


class Recovery:
    """A Redis-backed store's outage as its database copy sees it, the same for every such store:
    when this worker found Redis away, the restore once it is back, and the reads right after.

    ``backup`` None: nothing is kept in the database, and the store has only its own memory.
    """

    def __init__(self, backup: StateBackup | None) -> None:
        self.backup = backup
        # When (wall-clock ms) this worker first found Redis away, until the outage is restored.
        self._since: int | None = None
        # When (monotonic) this worker last found Redis back after an outage.
        self._back_at: float | None = None

    def away(self, at_ms: int) -> None:
        """Redis did not answer a call made at ``at_ms``."""
        self._since = self._since or at_ms

    async def kept(self, conversation_id: str, mine: int | None) -> str | None:
        """While Redis is away: the database's copy, unless this worker's own (written at ``mine``)
        is as new; None without one."""
        return None if self.backup is None else await self.backup.newer(conversation_id, mine)

    async def restore(self, write: Callable[[str, str, int], Awaitable[object]]) -> None:
        """Once Redis answers again: ``write`` every worker's writes of the outage (raises while
        Redis is still away, the outage then still to restore)."""
        if self._since is None:
            return
        self._back_at = time.monotonic()
        if self.backup is not None:
            await self.backup.restore(self._since - CLOCK_SKEW_MS, write)
        self._since = None

    async def read(self, redis: Any, key: str, conversation_id: str) -> Any:
        """The stored state at ``key``; just back from an outage, the database's copy when newer:
        a worker that has not noticed yet still writes only there."""
        if self.backup is None or self._back_at is None or time.monotonic() - self._back_at > RECOVERY_S:
            return await redis.get(key)
        value, at = await redis.mget(key, f"{key}:at")
        newer = await self.backup.newer(conversation_id, int(at or 0))
        return value if newer is None else newer


__all__ = ["CLOCK_SKEW_MS", "Recovery", "RECOVERY_S", "STATE_TTL_S", "StateBackup", "conversation_state",
           "metadata", "state_key"]
