"""Model inference off the event loop: requests that arrive together run as one batch on a thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from retrieval.embeddings import Encoder
from retrieval.router import RouterOutput, TrainedRouter

T = TypeVar("T")


@dataclass
class _Pending(Generic[T]):
    text: str
    future: asyncio.Future[T]


class BatchingWorker(Generic[T]):
    """Collects requests that arrive within a short window and runs them as one batch.

    Concurrent shoppers then cost one forward pass instead of one each, and the event loop
    never runs the model: ``fn`` runs on this worker's own thread.
    """

    def __init__(
        self,
        fn: Callable[[list[str]], Iterable[T]],
        load: Callable[[], None],
        *,
        window_ms: float = 2.0,
        max_batch: int = 64,
        name: str = "infer",
    ) -> None:
        self._fn = fn
        self._load = load
        self.window_s = window_ms / 1000
        self.max_batch = max_batch
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: list[_Pending[T]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def warm_up(self) -> None:
        """Load the model on the worker thread."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._load)

    async def submit(self, text: str) -> T:
        """The result of ``fn`` for one text."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
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

    async def _run(self, batch: list[_Pending[T]]) -> None:
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self._executor, self._fn, [p.text for p in batch])
        except Exception as err:  # noqa: BLE001 - handed to every waiting caller
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(err)
            return
        for p, r in zip(batch, results, strict=True):
            if not p.future.done():
                p.future.set_result(r)

    def close(self) -> None:
        """Stop the worker thread."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class BatchingEncoder(BatchingWorker[np.ndarray]):
    """Sentence embeddings (retrieval of evidence and products), batched."""

    def __init__(self, encoder: Encoder, window_ms: float = 2.0, max_batch: int = 64) -> None:
        super().__init__(encoder.encode, encoder.warm_up, window_ms=window_ms, max_batch=max_batch,
                         name="encode")
        self.encoder = encoder

    async def encode(self, text: str) -> np.ndarray:
        """The unit vector of one text."""
        return await self.submit(text)


class BatchingRouter(BatchingWorker[RouterOutput]):
    """The trained router's decisions, batched."""

    def __init__(self, router: TrainedRouter, window_ms: float = 2.0, max_batch: int = 64) -> None:
        super().__init__(router.run, router.warm_up, window_ms=window_ms, max_batch=max_batch,
                         name="route")
        self.router = router

    async def route(self, text: str) -> RouterOutput:
        """Answer (entry id), route or decline for one message."""
        return await self.submit(text)
