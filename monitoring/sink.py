"""The turn log's front door: a turn is journalled (on disk) before it is acknowledged, then
shipped to the database in batches by a background writer that retries until it gets through.

* ``submit`` returns once the record is fsync'ed in the local journal (group commit), so the
  reply that follows is never for a turn that a crash could lose.
* The writer inserts batches idempotently (by ``turn_id``). While the database is away it
  keeps the batch and retries with backoff; a record the database refuses for good is set
  apart alone (quarantined) and the rest of its batch still goes in.
* At start-up the journal's leftovers (a crash, an outage at shutdown) are shipped again.
* At most ``max_queued`` records wait in memory; beyond that (a long database outage under
  load) only their turn ids are kept, and the records are read back from the journal when the
  queue has room: the backlog lives on disk, so an outage does not grow the process.
* When the journal cannot take a record (its disk is full), ``submit`` raises ``StorageFull``
  and the turn is refused, never acknowledged; ``refusing`` says why for readiness.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.exc import OperationalError

from core.errors import Unavailable
from core.turns import TurnRecord
from monitoring.journal import Entry, TurnJournal
from monitoring.turnlog import TurnLog

log = logging.getLogger(__name__)
T = TypeVar("T")

# Errors after which the same batch is simply tried again later.
TRANSIENT = (Unavailable, OperationalError)
MAX_BACKOFF_S = 5.0


class TurnLogSink:
    """Journals turn records and writes them to the turn log on a dedicated thread."""

    def __init__(
        self,
        turn_log: TurnLog,
        journal: TurnJournal,
        *,
        max_batch: int = 200,
        listeners: Sequence[Callable[[TurnRecord], None]] = (),
        drain_on_close_s: float = 10.0,
        max_queued: int = 2000,
    ) -> None:
        self.turn_log = turn_log
        self.journal = journal
        self.max_batch = max_batch
        self.drain_on_close_s = drain_on_close_s
        self._queue: asyncio.Queue[Entry] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="turnlog")
        self._task: asyncio.Task[None] | None = None
        # Told of every submitted record (metrics); each must be quick.
        self._listeners = tuple(listeners)
        self._outage_since: float | None = None
        self.shipped = 0
        self.max_queued = max_queued
        # Journalled records not held in memory (the queue was full): turn id -> segment, in order.
        self._spilled: dict[str, int] = {}
        self.reloaded = 0

    async def start(self) -> None:
        """Open the journal, queue what an earlier run left unshipped, start the writer."""
        leftovers = await self.run_sync(self.journal.open)
        for entry in leftovers:
            self._enqueue(entry)
        if leftovers:
            log.warning("replaying %d journalled turns not yet in the turn log", len(leftovers))
        self._task = asyncio.create_task(self._writer(), name="turnlog-writer")

    async def submit(self, record: TurnRecord) -> None:
        """Make ``record`` durable (journal fsync), then queue it for the database.

        Raises ``StorageFull`` (or ``Unavailable``) when the journal cannot take it: nothing of
        the record is kept, so the turn must be refused.
        """
        segment = await self.journal.append(record)
        self._enqueue(Entry(record, segment))
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:  # noqa: BLE001 - a listener must never lose a turn
                log.exception("turn listener failed")

    def _enqueue(self, entry: Entry) -> None:
        # Once anything is spilled, later records follow it to disk: shipped in journal order.
        if self._spilled or self._queue.qsize() >= self.max_queued:
            self._spilled[entry.record.turn_id] = entry.segment
        else:
            self._queue.put_nowait(entry)

    @property
    def in_memory(self) -> int:
        """Records waiting in memory (the rest of the backlog waits in the journal only)."""
        return self._queue.qsize()

    async def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every queued record is in the database; False when ``timeout_s`` ran out."""

        async def drained() -> None:
            while True:
                await self._queue.join()
                if not self._spilled:
                    return
                # The writer reads the spilled records back as soon as the queue is empty.
                await asyncio.sleep(0.05)

        try:
            await asyncio.wait_for(drained(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def flushed(self, timeout_s: float = 2.0) -> None:
        """:meth:`flush`, or ``Unavailable`` when the database has not taken the backlog in time."""
        if not await self.flush(timeout_s):
            raise Unavailable("the turn log is catching up after a database outage", retry_after=5)

    @property
    def backlog(self) -> int:
        """Turns acknowledged but not yet confirmed in the database."""
        return self.journal.backlog

    @property
    def refusing(self) -> str | None:
        """Why turns are refused now (the journal's disk is full), or None."""
        return self.journal.refusing

    @property
    def outage_s(self) -> float:
        """How long the database has been refusing writes (0 when it is not)."""
        return 0.0 if self._outage_since is None else time.monotonic() - self._outage_since

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking turn-log call on the writer thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _writer(self) -> None:
        while True:
            if self._spilled and self._queue.empty():
                await self._reload()
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            count = len(batch)
            try:
                await self._ship(batch)
            finally:
                for _ in range(count):
                    self._queue.task_done()

    async def _reload(self) -> None:
        """Read the oldest spilled records back from the journal into the queue (up to its size)."""
        wanted: dict[str, int] = {}
        for turn_id, segment in self._spilled.items():
            wanted[turn_id] = segment
            if len(wanted) >= self.max_queued:
                break
        try:
            found = await self.run_sync(self.journal.reread, wanted)
        except OSError as err:
            # The disk cannot be read now: keep the ids and try again shortly.
            log.warning("cannot read spilled turns back from the journal (%s)", err)
            await asyncio.sleep(1.0)
            return
        for entry in found:
            self._queue.put_nowait(entry)
        for turn_id in wanted:
            # Not found: its segment is gone, so it was shipped (or set apart) already.
            self._spilled.pop(turn_id, None)
        self.reloaded += len(found)

    async def _ship(self, batch: list[Entry]) -> None:
        """Write ``batch`` (emptying it as records land), retrying through outages."""
        backoff = 0.1
        while True:
            try:
                await self.run_sync(self._write, batch)
            except TRANSIENT as err:
                if self._outage_since is None:
                    self._outage_since = time.monotonic()
                    log.warning("turn log unavailable (%s); %d turns kept in the journal", err, len(batch))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            if self._outage_since is not None:
                log.warning("turn log back after %.1f s", self.outage_s)
                self._outage_since = None
            return

    def _write(self, batch: list[Entry]) -> None:
        try:
            self.turn_log.write([e.record for e in batch])
        except TRANSIENT:
            raise
        except Exception:  # noqa: BLE001 - refused for good: find the culprit one at a time
            # Something in the batch is refused for good: find it by writing one at a time.
            self._write_one_by_one(batch)
            return
        self.journal.shipped([e.segment for e in batch])
        self.shipped += len(batch)
        batch.clear()

    def _write_one_by_one(self, batch: list[Entry]) -> None:
        # Each record leaves ``batch`` once settled, so a retry after an outage resumes here.
        while batch:
            entry = batch[0]
            try:
                self.turn_log.write([entry.record])
            except TRANSIENT:
                raise
            except Exception as err:  # noqa: BLE001 - only this record is set apart
                self.journal.quarantine(entry.record, f"{type(err).__name__}: {err}")
            else:
                self.shipped += 1
            self.journal.shipped([entry.segment])
            batch.pop(0)

    async def close(self) -> None:
        """Ship what can be shipped (for ``drain_on_close_s`` at most), stop the writer, close
        the journal.

        Whatever the database has not taken stays in the journal for the next start.
        """
        if self._task is not None:
            await self.flush(timeout_s=self.drain_on_close_s)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.journal.close()
        self._executor.shutdown(wait=True)
