import asyncio
import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from bot.engine.inference import BatchingEncoder, BatchingWorker


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
    enc = BatchingEncoder(inner, max_batch=64)
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

    enc = BatchingEncoder(Broken())
    results = await asyncio.gather(enc.encode("a"), enc.encode("b"), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    enc.close()


async def test_an_idle_worker_starts_at_once_and_a_full_batch_is_split() -> None:
    class Timed(CountingEncoder):
        def encode(self, texts: Sequence[str]) -> np.ndarray:
            self.started = time.perf_counter()
            return super().encode(texts)

    inner = Timed()
    enc = BatchingEncoder(inner, max_batch=3)
    submitted = time.perf_counter()
    await enc.encode("alone")
    assert inner.started - submitted < 0.05, "no batching window while idle"
    vecs = await asyncio.wait_for(asyncio.gather(*(enc.encode("ab") for _ in range(7))), 2)
    assert len(vecs) == 7 and inner.batches == [1, 3, 3, 1]
    enc.close()


async def test_requests_arriving_during_a_batch_all_go_in_the_next_one() -> None:
    class Slow(CountingEncoder):
        def encode(self, texts: Sequence[str]) -> np.ndarray:
            threading.Event().wait(0.2)
            return super().encode(texts)

    sizes: list[tuple[int, float]] = []
    inner = Slow()
    enc = BatchingEncoder(inner, max_batch=64, on_batch=lambda size, waited: sizes.append((size, waited)))
    first = asyncio.ensure_future(enc.encode("first"))
    await asyncio.sleep(0.05)  # the first batch is now running on the worker thread
    late = [asyncio.ensure_future(enc.encode(f"late-{n}")) for n in range(5)]
    await asyncio.sleep(0.01)
    later = asyncio.ensure_future(enc.encode("later"))
    await asyncio.wait_for(asyncio.gather(first, later, *late), 5)
    assert inner.batches == [1, 6], "not a queue of tiny batches: one batch of everything pending"
    assert [size for size, _ in sizes] == [1, 6]
    assert sizes[1][1] >= 0.1, "the second batch's oldest request waited for the first batch"
    enc.close()


class Overlap:
    """A batch function that records how many batches ran at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.batches: list[list[str]] = []

    def __call__(self, texts: list[str]) -> list[str]:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.batches.append(list(texts))
        threading.Event().wait(0.2)
        with self.lock:
            self.running -= 1
        return [t.upper() for t in texts]


@pytest.mark.parametrize("lanes", [1, 2])
async def test_lanes_run_that_many_batches_at_once_and_each_caller_gets_its_own_answer(lanes: int) -> None:
    fn = Overlap()
    worker: BatchingWorker[str] = BatchingWorker(fn, lambda: None, max_batch=4, lanes=lanes)
    texts = [f"m{i}" for i in range(12)]

    async def ask(i: int) -> str:
        await asyncio.sleep(i * 0.01)  # arriving one by one, faster than a batch runs
        return await worker.submit(texts[i])

    answers = await asyncio.wait_for(asyncio.gather(*(ask(i) for i in range(12))), 10)
    assert answers == [t.upper() for t in texts]
    assert fn.most == lanes, fn.batches
    assert sorted(t for b in fn.batches for t in b) == sorted(texts), "each message in exactly one batch"
    assert all(len(b) <= 4 for b in fn.batches)
    # Idle again: the next request starts at once on a free lane.
    assert await asyncio.wait_for(worker.submit("again"), 2) == "AGAIN"
    worker.close()


def test_a_worker_needs_a_lane() -> None:
    with pytest.raises(ValueError, match="lanes"):
        BatchingWorker(Overlap(), lambda: None, lanes=0)
