"""Exact inner-product FAISS indexes over unit vectors, saved with a content version."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from core.errors import NotReady, RetrievalError


def content_version(encoder_version: str, ids: Sequence[str], texts: Sequence[str]) -> str:
    """A short hash of everything an index depends on: rebuild exactly when it changes."""
    h = hashlib.sha256(encoder_version.encode())
    for i, t in zip(ids, texts, strict=True):
        h.update(b"\x00" + i.encode() + b"\x01" + t.encode())
    return h.hexdigest()[:16]


# OpenMP's thread count is per calling thread: set on the event loop, it would not reach the
# model thread that searches, which would then run FAISS on every core against the encoder.
_search_threads = 0  # 0: FAISS's default
_thread_state = threading.local()


def set_search_threads(threads: int) -> None:
    """How many OpenMP threads FAISS searches with, on every thread that searches."""
    global _search_threads
    _search_threads = max(1, threads)
    _apply_search_threads()


def _apply_search_threads() -> None:
    if _search_threads and getattr(_thread_state, "threads", 0) != _search_threads:
        faiss.omp_set_num_threads(_search_threads)
        _thread_state.threads = _search_threads


@dataclass(frozen=True)
class SearchResult:
    """Row ids and cosine scores for one query, best first."""

    rows: tuple[int, ...]
    scores: tuple[float, ...]


class VectorIndex:
    """A FAISS ``IndexFlatIP`` with the id and text of every row and a version."""

    def __init__(self, index: faiss.Index, ids: list[str], texts: list[str], version: str):
        self.index = index
        self.ids = ids
        self.texts = texts
        self.version = version

    @classmethod
    def build(cls, vectors: np.ndarray, ids: list[str], texts: list[str], version: str) -> VectorIndex:
        """Index ``vectors`` (unit rows) labelled with ``ids``."""
        if len(vectors) != len(ids) or len(ids) != len(texts):
            raise RetrievalError("vectors, ids and texts differ in length")
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index, ids, texts, version)

    def search(self, queries: np.ndarray, k: int) -> list[SearchResult]:
        """Top ``k`` rows per query row."""
        k = min(k, self.index.ntotal)
        if k == 0:
            return [SearchResult((), ()) for _ in range(len(queries))]
        _apply_search_threads()
        scores, rows = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        out = []
        for rr, ss in zip(rows.tolist(), scores.tolist(), strict=True):
            # FAISS pads a short result with -1 rows, always at the end.
            n = rr.index(-1) if -1 in rr else len(rr)
            out.append(SearchResult(tuple(rr[:n]), tuple(ss[:n])))
        return out

    def save(self, directory: Path, name: str) -> None:
        """Write ``name.faiss`` and ``name.json`` (ids, texts, version) atomically enough."""
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f"{name}.faiss.tmp"
        faiss.write_index(self.index, str(tmp))
        tmp.replace(directory / f"{name}.faiss")
        meta = {"version": self.version, "ids": self.ids, "texts": self.texts}
        (directory / f"{name}.json").write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, name: str) -> VectorIndex:
        """Read an index written by :meth:`save`."""
        path = directory / f"{name}.faiss"
        if not path.exists():
            raise NotReady(f"index {name!r} is not built: run `shopbot index`")
        try:
            meta = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
            return cls(faiss.read_index(str(path)), meta["ids"], meta["texts"], meta["version"])
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            raise RetrievalError(f"index {name!r} is unreadable: {err}") from err

    @staticmethod
    def saved_version(directory: Path, name: str) -> str | None:
        """Version of the saved index, or None when absent or unreadable."""
        try:
            meta = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
            return str(meta["version"])
        except (OSError, ValueError, KeyError):
            return None
