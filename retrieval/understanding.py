"""A message understood: the router's decision, its embedding and the knowledge nearest to it.

One stage over a batch: the turn encoder's single pass, then one batched FAISS search of
every embedding in the batch. Both run on the model worker's thread, so the event loop
does neither the transformer nor the search.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from core.turns import Hit, RouterOutput, RoutingScores
from retrieval.knowledge_base import KnowledgeBase
from retrieval.product_names import ProductNames
from retrieval.routing import NearestNeighbourScorer
from retrieval.turn_encoder import TurnEncoder


@dataclass(frozen=True)
class Understood:
    """One message: decision, unit embedding, nearest knowledge, and the search's share of time."""

    routed: RouterOutput
    vector: np.ndarray
    scores: RoutingScores
    search_ms: float
    # The version of the turn encoder that made the decision (a deploy swaps it between batches).
    router_version: str = ""


class Understanding:
    """Encode a batch of messages once and search the knowledge with every embedding at once."""

    def __init__(self, encoder: TurnEncoder, scorer: NearestNeighbourScorer,
                 names: Callable[[], ProductNames] | None = None) -> None:
        self._encoder = encoder
        self.scorer = scorer
        self.names = names

    @property
    def encoder(self) -> TurnEncoder:
        """The turn encoder answering now."""
        return self._encoder

    @property
    def version(self) -> str:
        """The turn encoder's version (the index carries its own)."""
        return self._encoder.version

    def warm_up(self) -> None:
        """Load the turn encoder (idempotent)."""
        self._encoder.warm_up()

    def swap(self, encoder: TurnEncoder) -> None:
        """Answer the next batch with ``encoder`` (already warmed up); a batch running keeps the old one.

        One reference assignment, so a batch sees either encoder whole, never a mix.
        """
        self._encoder = encoder

    def run(self, texts: Sequence[str]) -> list[Understood]:
        """Each text understood, in order."""
        # Read once: a swap during this batch must not split it between two encoders.
        encoder = self._encoder
        version = encoder.version
        encoded = encoder.run(texts)
        if not encoded:
            return []
        start = time.perf_counter()
        scores = self.scorer.run_batch(np.stack([e.vector for e in encoded]))
        if self.names is not None:
            scores = [replace(s, named=self._named(text)) for s, text in zip(scores, texts, strict=True)]
        # The batch's search time is shared out: per message it is what the search cost it.
        search_ms = (time.perf_counter() - start) * 1000 / len(encoded)
        return [Understood(e.routed, e.vector, s, search_ms, version)
                for e, s in zip(encoded, scores, strict=True)]

    def _named(self, text: str) -> Hit | None:
        assert self.names is not None
        found = self.names().find(text)
        if found is None:
            return None
        return Hit(found.product.stock_code, "product", round(found.coverage, 4), found.product.name)


def understanding_of(encoder: TurnEncoder, kb: KnowledgeBase) -> Understanding:
    """A turn encoder over a knowledge base: its search, and its catalogue's product names."""
    # The names of the catalogue answering now: a sync swaps them with the products.
    return Understanding(encoder, NearestNeighbourScorer(kb), lambda: kb.catalogue.state.names)
