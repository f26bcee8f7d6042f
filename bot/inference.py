"""Model inference off the event loop: a batching encoder and a generation worker."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from retrieval.embeddings import Encoder


@dataclass
class _Pending:
    text: str
    future: asyncio.Future[np.ndarray]


class BatchingEncoder:
    """Collects encode requests that arrive together and embeds them in one batch on a thread.

    Concurrent shoppers then cost one forward pass instead of one each, and the event loop
    never runs the model.
    """

    def __init__(self, encoder: Encoder, window_ms: float = 2.0, max_batch: int = 64) -> None:
        self.encoder = encoder
        self.window_s = window_ms / 1000
        self.max_batch = max_batch
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode")
        self._pending: list[_Pending] = []
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[None]] = set()
        self.batches = 0

    async def warm_up(self) -> None:
        """Load the model on the worker thread."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self.encoder.warm_up)

    async def encode(self, text: str) -> np.ndarray:
        """The unit vector of one text."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[np.ndarray] = loop.create_future()
        self._pending.append(_Pending(text, fut))
        if len(self._pending) >= self.max_batch:
            self._dispatch()
        elif self._timer is None:
            self._timer = loop.call_later(self.window_s, self._dispatch)
        return await fut

    def _dispatch(self) -> None:
        # Every pending request leaves here in some batch: a timer is armed whenever the
        # queue is non-empty and not already being flushed.
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        self.batches += 1
        try:
            vecs = await loop.run_in_executor(self._executor, self.encoder.encode, [p.text for p in batch])
        except Exception as err:  # noqa: BLE001 - handed to every waiting caller
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(err)
            return
        for p, v in zip(batch, vecs, strict=True):
            if not p.future.done():
                p.future.set_result(v)

    def close(self) -> None:
        """Stop the worker thread."""
        self._executor.shutdown(wait=False, cancel_futures=True)
