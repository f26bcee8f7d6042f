"""Model inference off the event loop, with continuous batching.

A worker thread runs one batch at a time. When it is free, a request starts a batch at once
(no waiting window); while it is busy, requests queue, and the moment it is free again it takes
everything queued (up to ``max_batch``) as the next batch. Light load gets single-request
latency, heavy load gets full batches, and the thread never has a queue of tiny batches.
With ``lanes`` > 1, that many batches run at once, each on its own thread: a model whose batch
has stages of unequal width (the accurate profile's one-core MiniLM pass, then its two-core
mpnet pass) keeps the cores busy by overlapping one batch's stages with another's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from retrieval.embeddings import Encoder
from retrieval.understanding import Understanding, Understood

T = TypeVar("T")
# Told of every batch: its size and how long its oldest request waited for it (seconds).
BatchObserver = Callable[[int, float], None]


@dataclass
class _Pending(Generic[T]):
    text: str
    future: asyncio.Future[T]
    queued: float


class BatchingWorker(Generic[T]):
    """Runs ``fn`` on batches of texts on its own thread, batching whatever is pending."""

    def __init__(
        self,
        fn: Callable[[list[str]], Iterable[T]],
        load: Callable[[], None],
        *,
        max_batch: int = 64,
        name: str = "infer",
        on_batch: BatchObserver | None = None,
        lanes: int = 1,
    ) -> None:
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, not {lanes}")
        self._fn = fn
        self._load = load
        self.max_batch = max_batch
        self.name = name
        self._on_batch = on_batch
        self.lanes = lanes
        self._executor = ThreadPoolExecutor(max_workers=lanes, thread_name_prefix=name)
        self._pending: list[_Pending[T]] = []
        # The batches running now, one task each (at most ``lanes``).
        self._runners: set[asyncio.Task[None]] = set()

    async def warm_up(self) -> None:
        """Load the model on the worker thread."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._load)

    async def submit(self, text: str) -> T:
        """The result of ``fn`` for one text."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._pending.append(_Pending(text, fut, time.perf_counter()))
        if len(self._runners) < self.lanes:
            self._runners.add(loop.create_task(self._drain()))
        return await fut

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch:]
                if self._on_batch is not None:
                    self._on_batch(len(batch), time.perf_counter() - batch[0].queued)
                try:
                    results = await loop.run_in_executor(self._executor, self._fn, [p.text for p in batch])
                except Exception as err:  # noqa: BLE001 - handed to every waiting caller
                    for p in batch:
                        if not p.future.done():
                            p.future.set_exception(err)
                    continue
                for p, r in zip(batch, results, strict=True):
                    if not p.future.done():
                        p.future.set_result(r)
        finally:
            # Synchronously at the end of the loop: a request queued after this sees a free lane.
            task = asyncio.current_task()
            if task is not None:
                self._runners.discard(task)

    def close(self) -> None:
        """Stop the worker thread."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class BatchingEncoder(BatchingWorker[np.ndarray]):
    """Sentence embeddings (retrieval of evidence and products), batched."""

    def __init__(
        self, encoder: Encoder, max_batch: int = 64, on_batch: BatchObserver | None = None
    ) -> None:
        super().__init__(encoder.encode, encoder.warm_up, max_batch=max_batch, name="encode",
                         on_batch=on_batch)
        self.encoder = encoder

    async def encode(self, text: str) -> np.ndarray:
        """The unit vector of one text."""
        return await self.submit(text)


class BatchingUnderstanding(BatchingWorker[Understood]):
    """Each message's decision, embedding and nearest knowledge: one pass and one search per batch."""

    def __init__(
        self, understanding: Understanding, max_batch: int = 64, on_batch: BatchObserver | None = None,
        lanes: int = 1,
    ) -> None:
        super().__init__(understanding.run, understanding.warm_up, max_batch=max_batch, name="turn",
                         on_batch=on_batch, lanes=lanes)
        self.understanding = understanding

    async def understand(self, text: str) -> Understood:
        """One message understood."""
        return await self.submit(text)
