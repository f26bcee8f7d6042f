"""A background writer so that logging a turn never delays the reply."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from core.turns import TurnRecord
from monitoring.turnlog import TurnLog

log = logging.getLogger(__name__)


class TurnLogSink:
    """Queues turn records and writes them in batches on a dedicated thread."""

    def __init__(
        self,
        turn_log: TurnLog,
        max_batch: int = 200,
        listeners: Sequence[Callable[[TurnRecord], None]] = (),
    ) -> None:
        self.turn_log = turn_log
        self.max_batch = max_batch
        self._queue: asyncio.Queue[TurnRecord] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="turnlog")
        self._task: asyncio.Task[None] | None = None
        # Told of every submitted record (metrics); each must be quick.
        self._listeners = tuple(listeners)

    async def start(self) -> None:
        """Create the table and start the writer task."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self.turn_log.create)
        self._task = asyncio.create_task(self._writer(), name="turnlog-writer")

    def submit(self, record: TurnRecord) -> None:
        """Queue a record; returns at once."""
        self._queue.put_nowait(record)
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:  # noqa: BLE001 - a listener must never lose a turn
                log.exception("turn listener failed")

    async def flush(self) -> None:
        """Wait until every queued record is written."""
        await self._queue.join()

    async def run_sync(self, fn, *args):  # type: ignore[no-untyped-def]
        """Run a turn-log call on the writer thread (keeps SQLite access single-threaded)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _writer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await loop.run_in_executor(self._executor, self.turn_log.write, batch)
            except Exception:  # noqa: BLE001 - a failed write must not stop later ones
                log.exception("turn log write failed for %d turns", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def close(self) -> None:
        """Drain the queue, stop the writer and release the database."""
        if self._task is not None:
            await self.flush()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)
