"""Rasa's reminders in the database: scheduled and cancelled by actions, fired once across workers.

An action's ``reminder`` event (rasa-sdk's ``ReminderScheduled``) books its intent, entities and
time in the ``rasa_reminders`` table; one of the same ``name`` in the same conversation replaces
it. ``cancel_reminder`` (``ReminderCancelled``) removes the conversation's reminders matching
its ``name``, ``intent`` and ``entities`` (each only when given; all of them when none is). A user
message drops those booked with ``kill_on_user_msg`` (Rasa's default) before it. Being in the
database, reminders survive a restart and every worker sees them.

:class:`ReminderScheduler` polls for due reminders (one indexed query a second) and fires each
once across workers: it claims the row with one conditional UPDATE, runs the reminder's intent in
its conversation (``fire``, Rasa's ``handle_reminder``: the payload message
:func:`reminder_text`), deletes the row and hands the bot's messages to ``deliver`` (the
shopper's socket.io room). A claim whose worker died is taken over after ``lease_s``: a worker
that dies between the turn and the delete fires that reminder twice (at least once, never lost).
Unlike Rasa (an in-memory APScheduler, 1 s misfire grace), a reminder that fell due while no
worker ran fires late, once, unless ``misfire_grace_s`` says how late is too late.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.sql import ColumnElement, Select

from core.db import as_utc
from core.messages import BotMessage
from core.ratelog import RateLimitedLog

log = logging.getLogger(__name__)
# Bad events from a project's actions, and an outage seen every poll: one line per minute per cause.
_log = RateLimitedLog(log, 60.0)

# Longer names are stored as their hash: replacing and cancelling by name still match.
NAME_CHARS = 255
# What a payload can carry as an intent (bot/rasa/payload.py): no braces, no '@', no blank start.
INTENT_CHARS = 255
# The entities one reminder may carry, as JSON.
ENTITIES_BYTES = 16_384

metadata = MetaData()

reminders = Table(
    "rasa_reminders",
    metadata,
    Column("id", String(32), primary_key=True),
    # Stored as every table stores it: the channel's id, pseudonymised when it holds personal data.
    Column("conversation_id", String(128), nullable=False),
    Column("name", String(NAME_CHARS), nullable=False),
    Column("intent", String(INTENT_CHARS), nullable=False),
    # Only each entity's name and value: what firing the intent needs.
    Column("entities", JSON, nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False, index=True),
    Column("kill_on_user_msg", Boolean, nullable=False),
    Column("scheduled_at", DateTime(timezone=True), nullable=False),
    Column("claimed_by", String(64), nullable=True),
    Column("claimed_at", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    # Also the index of every per-conversation query (its leading column).
    UniqueConstraint("conversation_id", "name", name="uq_rasa_reminders_conversation_name"),
)

Clock = Callable[[], datetime]
Fire = Callable[[str, str, list[dict[str, Any]]], Awaitable[Sequence[BotMessage]]]
Deliver = Callable[[str, Sequence[BotMessage]], Awaitable[None]]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Reminder:
    """One booked reminder, as the scheduler fires it."""

    id: str
    conversation_id: str
    name: str
    intent: str
    entities: list[dict[str, Any]]
    due_at: datetime
    kill_on_user_msg: bool
    attempts: int


def _reminder(row: Any, sealed: _Sealed) -> Reminder:
    return Reminder(row.id, row.conversation_id, row.name, row.intent, sealed.open(row.entities),
                    as_utc(row.due_at), bool(row.kill_on_user_msg), int(row.attempts or 0))


class _Sealed:
    """Entities as stored: a Fernet token (a JSON string) with a key, else the list itself."""

    def __init__(self, key: bytes | None) -> None:
        self._fernet = Fernet(key) if key is not None else None

    def seal(self, entities: list[dict[str, Any]]) -> Any:
        if self._fernet is None:
            return entities
        return self._fernet.encrypt(json.dumps(entities).encode()).decode()

    def open(self, stored: Any) -> list[dict[str, Any]]:
        if isinstance(stored, str):
            if self._fernet is None:
                return []
            try:
                return list(json.loads(self._fernet.decrypt(stored.encode())))
            except InvalidToken:  # sealed under another key: fired without its entities
                return []
        return list(stored or [])


def entity_list(entities: Any) -> list[dict[str, Any]] | None:
    """Rasa's two spellings of entities (``[{"entity", "value", ...}]`` or ``{"entity": value}``)
    as ``[{"entity", "value"}]``; None when they are neither."""
    if not entities:
        return []
    if isinstance(entities, Mapping):
        return [{"entity": str(k), "value": v} for k, v in entities.items()]
    if isinstance(entities, list) and all(isinstance(e, Mapping) and e.get("entity") for e in entities):
        return [{"entity": str(e["entity"]), "value": e.get("value")} for e in entities]
    return None


def _same_entities(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]) -> bool:
    # Rasa compares the entities' exact text; by name and value, in any order, is what a cancel means.
    def key(items: Sequence[Mapping[str, Any]]) -> list[str]:
        return sorted(json.dumps([e["entity"], e.get("value")], sort_keys=True, default=str) for e in items)

    return key(a) == key(b)


def _stored_name(name: str) -> str:
    if len(name) <= NAME_CHARS:
        return name
    return "sha256:" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


def due_time(value: Any) -> datetime | None:
    """``date_time`` (ISO 8601) in UTC; without a zone it is the server's local time, as
    Rasa's scheduler reads it. None when it is no time."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    return parsed.astimezone(UTC)


def _valid_intent(intent: Any) -> bool:
    return (isinstance(intent, str) and 0 < len(intent) <= INTENT_CHARS and intent == intent.strip()
            and not any(c in intent for c in "{}@\n\r"))


def _free(now: datetime, lease_s: float) -> ColumnElement[bool]:
    stale = now - timedelta(seconds=lease_s)
    return or_(reminders.c.claimed_at.is_(None), reminders.c.claimed_at < stale)


def due_query(now: datetime, lease_s: float, limit: int) -> Select[tuple[str]]:
    """The scheduler's poll: a range scan of the ``due_at`` index, soonest first."""
    return (select(reminders.c.id).where(reminders.c.due_at <= now, _free(now, lease_s))
            .order_by(reminders.c.due_at).limit(limit))


class DatabaseReminders:
    """A :class:`bot.rasa.ports.ReminderBook` in one SQL table (blocking work off the event loop)."""

    def __init__(self, engine: Engine, *, max_per_conversation: int = 100, clock: Clock = _now,
                 key: bytes | None = None) -> None:
        self.engine = engine
        # Entities may hold personal data ("remind me to call Alice"): encrypted under ``key`` (a
        # Fernet key, bot/engine/state_backup.py: state_key), as the conversation state is.
        self._sealed = _Sealed(key)
        self.max_per_conversation = max_per_conversation
        self.clock = clock

    def create(self) -> None:
        """Create the table when missing (the application creates it with the others)."""
        metadata.create_all(self.engine)

    # ------------------------------------------------------------ the book (ReminderBook)

    async def schedule(self, conversation_id: str, event: Mapping[str, Any]) -> None:
        """Book a ``reminder`` event, replacing the conversation's reminder of the same name.

        An event that is no reminder (no intent a payload can name, no ISO 8601 ``date_time``,
        entities of neither of Rasa's shapes or over 16 KiB) is logged and ignored.
        """
        intent, due = event.get("intent"), due_time(event.get("date_time"))
        entities = entity_list(event.get("entities"))
        if not _valid_intent(intent) or due is None or entities is None:
            _log.warning("reminder", "ignoring a reminder event without a valid intent, date_time or "
                         "entities (intent %r)", intent if isinstance(intent, str) else type(intent).__name__)
            return
        if len(json.dumps(entities, default=str)) > ENTITIES_BYTES:
            _log.warning("reminder", "ignoring a reminder of intent %s: its entities exceed %d bytes",
                         intent, ENTITIES_BYTES)
            return
        # Rasa names an unnamed reminder with a fresh uuid: it replaces nothing.
        name = _stored_name(str(event.get("name") or uuid.uuid4().hex))
        row = {"id": uuid.uuid4().hex, "conversation_id": conversation_id, "name": name, "intent": intent,
               "entities": self._sealed.seal(json.loads(json.dumps(entities, default=str))), "due_at": due,
               "kill_on_user_msg": bool(event.get("kill_on_user_msg", True)), "scheduled_at": self.clock(),
               "claimed_by": None, "claimed_at": None, "attempts": 0}
        await asyncio.to_thread(self._book, row)

    def _book(self, row: dict[str, Any]) -> None:
        # Turns of one conversation run one at a time, so a race on one name is rare; the unique
        # constraint makes it safe: the loser books again over the winner's row, as a later event.
        for attempt in (1, 2):
            try:
                with self.engine.begin() as conn:
                    self._replace(conn, row)
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    def _replace(self, conn: Connection, row: dict[str, Any]) -> None:
        mine = reminders.c.conversation_id == row["conversation_id"]
        others = conn.execute(select(func.count()).select_from(reminders)
                              .where(mine, reminders.c.name != row["name"])).scalar_one()
        if others >= self.max_per_conversation:
            _log.warning("full", "ignoring a reminder of intent %s: its conversation has %d already",
                         row["intent"], others)
            return
        conn.execute(delete(reminders).where(mine, reminders.c.name == row["name"]))
        conn.execute(reminders.insert().values(**row))

    async def cancel(self, conversation_id: str, event: Mapping[str, Any]) -> None:
        """Remove the conversation's reminders a ``cancel_reminder`` event names (all when it names none)."""
        name, intent = event.get("name"), event.get("intent")
        entities = entity_list(event.get("entities"))
        if entities is None:
            _log.warning("cancel", "ignoring a cancel_reminder event: its entities are of neither Rasa shape")
            return
        await asyncio.to_thread(self._cancel, conversation_id, str(name) if name else None,
                                str(intent) if intent else None, entities)

    def _cancel(self, conversation_id: str, name: str | None, intent: str | None,
                entities: list[dict[str, Any]]) -> None:
        where: list[ColumnElement[bool]] = [reminders.c.conversation_id == conversation_id]
        if name:
            where.append(reminders.c.name == _stored_name(name))
        if intent:
            where.append(reminders.c.intent == intent)
        with self.engine.begin() as conn:
            if not entities:
                conn.execute(delete(reminders).where(*where))
                return
            rows = conn.execute(select(reminders.c.id, reminders.c.entities).where(*where)).all()
            ids = [r.id for r in rows if _same_entities(self._sealed.open(r.entities), entities)]
            if ids:
                conn.execute(delete(reminders).where(reminders.c.id.in_(ids)))

    async def user_spoke(self, conversation_id: str) -> None:
        """Drop the conversation's reminders booked with ``kill_on_user_msg``.

        Call it when a message arrives, before its actions run: those may book new ones.
        """
        await asyncio.to_thread(self._kill, conversation_id)

    def _kill(self, conversation_id: str) -> None:
        where = (reminders.c.conversation_id == conversation_id, reminders.c.kill_on_user_msg.is_(True))
        # Most messages find nothing: a read takes no write lock (SQLite has one for the whole file).
        with self.engine.connect() as conn:
            ids = list(conn.execute(select(reminders.c.id).where(*where)).scalars())
        if ids:
            with self.engine.begin() as conn:
                conn.execute(delete(reminders).where(reminders.c.id.in_(ids), *where))

    # ---------------------------------------------------------------- what the scheduler uses

    def pending(self, conversation_id: str) -> list[Reminder]:
        """The conversation's booked reminders, soonest first."""
        query = select(reminders).where(reminders.c.conversation_id == conversation_id)
        with self.engine.connect() as conn:
            return [_reminder(r, self._sealed) for r in conn.execute(query.order_by(reminders.c.due_at))]

    def due(self, now: datetime, lease_s: float, limit: int) -> list[str]:
        """Ids of reminders due by ``now`` that nobody holds (or whose holder's lease ran out)."""
        with self.engine.connect() as conn:
            return [str(row.id) for row in conn.execute(due_query(now, lease_s, limit))]

    def claim(self, reminder_id: str, worker: str, now: datetime, lease_s: float) -> Reminder | None:
        """Take the reminder for ``worker``; None when another worker holds it or it is gone."""
        try:
            with self.engine.begin() as conn:
                # One UPDATE with the condition in its WHERE: of racing workers, one gets the row.
                taken = conn.execute(
                    update(reminders).where(reminders.c.id == reminder_id, _free(now, lease_s))
                    .values(claimed_by=worker, claimed_at=now, attempts=reminders.c.attempts + 1)
                ).rowcount
                row = conn.execute(select(reminders).where(reminders.c.id == reminder_id)).first() \
                    if taken == 1 else None
        except OperationalError as err:
            # SQLite busy with another worker's write: the next poll tries again.
            log.debug("reminder %s not claimed this time: %s", reminder_id, err)
            return None
        return _reminder(row, self._sealed) if row is not None else None

    def finish(self, reminder_id: str) -> None:
        """Remove a fired (or given up) reminder."""
        with self.engine.begin() as conn:
            conn.execute(delete(reminders).where(reminders.c.id == reminder_id))


def worker_name() -> str:
    """This process's name in claims: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:64]


class ReminderScheduler:
    """Fires due reminders of a :class:`DatabaseReminders`, each once across workers.

    ``fire(conversation_id, intent, entities)`` runs the intent as a turn of the conversation and
    returns the bot's messages; ``deliver(conversation_id, messages)`` pushes them to the shopper.
    ``lease_s`` must exceed the longest turn: a claim older than that is taken over.
    """

    def __init__(self, book: DatabaseReminders, fire: Fire, deliver: Deliver, *, poll_s: float = 1.0,
                 lease_s: float = 60.0, batch: int = 20, concurrency: int = 4, max_attempts: int = 3,
                 misfire_grace_s: float | None = None, worker: str | None = None) -> None:
        self.book = book
        self.fire = fire
        self.deliver = deliver
        self.poll_s = poll_s
        self.lease_s = lease_s
        self.batch = batch
        self.max_attempts = max_attempts
        self.misfire_grace_s = misfire_grace_s
        self.worker = worker or worker_name()
        self._slots = asyncio.Semaphore(concurrency)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start polling (idempotent)."""
        if self._task is None or self._task.done():
            self._stopping.clear()
            self._task = asyncio.create_task(self._loop(), name="rasa-reminders")

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop polling; reminders being fired get ``grace_s`` to finish (else they are taken over
        by another worker once their lease runs out)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), grace_s)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception as err:  # noqa: BLE001 - the database may come back: keep polling
                _log.warning("poll", "reminders not polled (%s: %s); retrying", type(err).__name__, err)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.poll_s)

    async def tick(self) -> int:
        """Fire the reminders due now that this worker wins; the number fired."""
        now = self.book.clock()
        ids = await asyncio.to_thread(self.book.due, now, self.lease_s, self.batch)
        results = await asyncio.gather(*(self._one(i) for i in ids), return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                # The database away mid-way: what was claimed is taken over once its lease runs out.
                _log.warning("fire", "a reminder was not fired (%s: %s)", type(result).__name__, result)
            elif isinstance(result, BaseException):
                raise result
        return sum(r for r in results if r is True)

    async def _one(self, reminder_id: str) -> bool:
        async with self._slots:
            now = self.book.clock()
            reminder = await asyncio.to_thread(self.book.claim, reminder_id, self.worker, now, self.lease_s)
            if reminder is None:
                return False
            if reminder.attempts > self.max_attempts:
                _log.warning("given_up", "reminder %s (intent %s) failed %d times; dropped", reminder.id,
                             reminder.intent, self.max_attempts)
                await asyncio.to_thread(self.book.finish, reminder.id)
                return False
            late = (now - reminder.due_at).total_seconds()
            if self.misfire_grace_s is not None and late > self.misfire_grace_s:
                log.info("reminder %s (intent %s) missed by %.0f s; dropped", reminder.id, reminder.intent,
                         late)
                await asyncio.to_thread(self.book.finish, reminder.id)
                return False
            try:
                messages = await self.fire(reminder.conversation_id, reminder.intent, reminder.entities)
            except Exception as err:  # noqa: BLE001 - left claimed: retried once the lease runs out
                _log.warning("fire", "reminder %s (intent %s) failed (%s: %s); retried in %.0f s",
                             reminder.id, reminder.intent, type(err).__name__, err, self.lease_s)
                return False
            await asyncio.to_thread(self.book.finish, reminder.id)
            if messages:
                try:
                    await self.deliver(reminder.conversation_id, messages)
                except Exception as err:  # noqa: BLE001 - the turn is logged: the transcript has it
                    _log.warning("deliver", "reminder %s answered but not pushed (%s: %s)", reminder.id,
                                 type(err).__name__, err)
            return True


__all__ = ["DatabaseReminders", "Reminder", "ReminderScheduler", "due_query", "due_time", "entity_list",
           "metadata", "reminders", "worker_name"]
