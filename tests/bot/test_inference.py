import asyncio
import threading
from collections.abc import Sequence

import numpy as np

from bot.inference import BatchingEncoder


class CountingEncoder:
    """A stand-in encoder that records batch sizes and the thread it ran on."""

    version = "counting"
    dim = 2

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.threads: set[str] = set()

    def warm_up(self) -> None:
        pass

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.batches.append(len(texts))
        self.threads.add(threading.current_thread().name)
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


async def test_concurrent_requests_share_one_batch_off_the_loop() -> None:
    inner = CountingEncoder()
    enc = BatchingEncoder(inner, window_ms=20, max_batch=64)
    texts = [f"{'x' * i}" for i in range(1, 11)]
    vecs = await asyncio.gather(*(enc.encode(t) for t in texts))
    assert [int(v[0]) for v in vecs] == list(range(1, 11)), "each caller gets its own vector"
    assert inner.batches == [10]
    assert inner.threads and threading.current_thread().name not in inner.threads
    enc.close()


async def test_errors_reach_every_waiting_caller() -> None:
    class Broken(CountingEncoder):
        def encode(self, texts: Sequence[str]) -> np.ndarray:
            raise RuntimeError("boom")

    enc = BatchingEncoder(Broken(), window_ms=5)
    results = await asyncio.gather(enc.encode("a"), enc.encode("b"), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    enc.close()


async def test_full_batch_flushes_without_waiting() -> None:
    inner = CountingEncoder()
    enc = BatchingEncoder(inner, window_ms=10_000, max_batch=3)
    vecs = await asyncio.wait_for(asyncio.gather(*(enc.encode("ab") for _ in range(3))), 2)
    assert len(vecs) == 3 and inner.batches == [3]
    enc.close()


async def test_requests_arriving_during_a_batch_are_not_stranded() -> None:
    class Slow(CountingEncoder):
        def encode(self, texts: Sequence[str]) -> np.ndarray:
            threading.Event().wait(0.2)
            return super().encode(texts)

    inner = Slow()
    enc = BatchingEncoder(inner, window_ms=5, max_batch=64)
    first = asyncio.ensure_future(enc.encode("first"))
    await asyncio.sleep(0.05)  # the first batch is now running on the worker thread
    late = await asyncio.wait_for(asyncio.gather(enc.encode("late-1"), enc.encode("late-2")), 5)
    assert len(late) == 2 and (await first).shape == (2,)
    assert inner.batches == [1, 2]
    enc.close()
