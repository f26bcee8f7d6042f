"""Auditors' promoted corrections, answered live: a promoted question is matched before routing.

The trained router learns them at the next ``shopbot train``; until then (seconds after a
promote, with no restart) a message whose embedding is this close to a promoted question is
answered from the promoted entry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from bot.engine.inference import BatchingEncoder
from retrieval.corrections import ChangeKind, CorrectionStore, KnowledgeChange
from retrieval.knowledge import KnowledgeEntry

T = TypeVar("T")


@dataclass(frozen=True)
class CorrectionMatch:
    """The promoted change a message matched, and how closely (cosine)."""

    change: KnowledgeChange
    score: float


@dataclass(frozen=True)
class _Snapshot:
    version: str
    changes: tuple[KnowledgeChange, ...]
    vectors: np.ndarray
    entries: dict[str, KnowledgeEntry]


class LiveCorrections:
    """The active corrections of the knowledge, refreshed from the database when they change."""

    def __init__(
        self,
        store: CorrectionStore,
        encoder: BatchingEncoder,
        *,
        threshold: float = 0.9,
        check_every_s: float = 2.0,
        run_blocking: Callable[..., Any] | None = None,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.threshold = threshold
        self.check_every_s = check_every_s
        self._run = run_blocking or asyncio.to_thread
        self._snap = _Snapshot("", (), np.zeros((0, 1), dtype=np.float32), {})
        self._checked = 0.0
        self._lock = asyncio.Lock()

    @property
    def version(self) -> str:
        """Version of the applied changes (goes into each turn's ``versions``)."""
        return self._snap.version

    @property
    def active(self) -> tuple[KnowledgeChange, ...]:
        """The changes answered live."""
        return self._snap.changes

    def entry(self, entry_id: str) -> KnowledgeEntry | None:
        """A promoted new entry by id (existing entries are in the knowledge base)."""
        return self._snap.entries.get(entry_id)

    async def refresh(self, *, force: bool = False) -> None:
        """Reload when the stored changes moved on (at most every ``check_every_s``)."""
        now = time.monotonic()
        if not force and now - self._checked < self.check_every_s:
            return
        async with self._lock:
            self._checked = time.monotonic()
            version = await self._run(self.store.version)
            if version == self._snap.version and not force:
                return
            active = tuple(await self._run(self.store.list, active_only=True))
            vectors = [await self.encoder.encode(c.question) for c in active]
            matrix = np.stack(vectors) if vectors else np.zeros((0, 1), dtype=np.float32)
            entries = {c.entry_id: KnowledgeEntry(c.entry_id, (c.question,), c.answer)
                       for c in active if c.kind is ChangeKind.NEW_ENTRY}
            self._snap = _Snapshot(version, active, matrix, entries)

    def match(self, vector: np.ndarray) -> CorrectionMatch | None:
        """The closest promoted question at or above the threshold, if any."""
        snap = self._snap
        if not snap.changes:
            return None
        scores = snap.vectors @ vector
        best = int(np.argmax(scores))
        score = float(scores[best])
        return CorrectionMatch(snap.changes[best], score) if score >= self.threshold else None
