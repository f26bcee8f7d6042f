"""The FAISS index wrapper: exact search, and the thread count reaching the searching thread."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import faiss
import numpy as np

from retrieval.index import VectorIndex, set_search_threads


def _index(n: int = 50, dim: int = 8) -> tuple[VectorIndex, np.ndarray]:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return VectorIndex.build(vectors, [f"r{i}" for i in range(n)], [f"t{i}" for i in range(n)], "v"), vectors


def test_search_finds_each_vector_first() -> None:
    index, vectors = _index()
    results = index.search(vectors[:5], 3)
    assert [r.rows[0] for r in results] == [0, 1, 2, 3, 4]
    assert all(abs(r.scores[0] - 1.0) < 1e-5 for r in results)


def test_search_threads_hold_on_the_thread_that_searches() -> None:
    # OpenMP keeps the count per thread: the model thread searches, not the one that set it.
    index, vectors = _index()
    set_search_threads(1)

    def search_then_count() -> int:
        index.search(vectors[:25], 3)  # 25 queries: FAISS's parallel path
        return int(faiss.omp_get_max_threads())

    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(search_then_count).result() == 1
