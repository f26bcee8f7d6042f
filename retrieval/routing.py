"""Routing scores: how close a message is to each knowledge entry and to the products."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.turns import Hit
from retrieval.index import SearchResult
from retrieval.knowledge_base import KnowledgeBase


@dataclass(frozen=True)
class RoutingScores:
    """Per-entry nearest-neighbour scores (best first) and the evidence behind them."""

    labels: tuple[tuple[str, float], ...]
    hits: tuple[Hit, ...]
    product_hits: tuple[Hit, ...]
    # The catalogue product the message names by its name's words (retrieval/product_names.py);
    # score = the share of the name the message holds.
    named: Hit | None = None

    @property
    def top(self) -> tuple[str, float]:
        """Best entry id and its score; ``("", 0.0)`` when the knowledge is empty."""
        return self.labels[0] if self.labels else ("", 0.0)


class NearestNeighbourScorer:
    """Scores entries by their closest phrasing (cosine) among the top ``k`` neighbours."""

    def __init__(self, kb: KnowledgeBase, k: int = 25, product_k: int = 50) -> None:
        self.kb = kb
        self.k = k
        self.product_k = product_k

    def run(self, vector: np.ndarray) -> RoutingScores:
        """Score one unit query vector."""
        return self.run_batch(vector.reshape(1, -1))[0]

    def run_batch(self, vectors: np.ndarray) -> list[RoutingScores]:
        """Score each row of ``vectors`` (unit rows), with one FAISS search per index."""
        routing = self.kb.routing.search(vectors, self.k)
        products = self.kb.products.search(vectors, self.product_k)
        return [self._scores(r, p) for r, p in zip(routing, products, strict=True)]

    def _scores(self, res: SearchResult, pres: SearchResult) -> RoutingScores:
        best: dict[str, float] = {}
        hits = []
        ids, texts = self.kb.routing.ids, self.kb.routing.texts
        for row, score in zip(res.rows, res.scores, strict=True):
            label = ids[row]
            if label not in best:
                best[label] = score
                kind = "intent" if self.kb.is_intent(label) else "faq"
                hits.append(Hit(label, kind, score, texts[row]))
        pids, ptexts = self.kb.products.ids, self.kb.products.texts
        product_hits = tuple(
            Hit(pids[r], "product", s, ptexts[r]) for r, s in zip(pres.rows, pres.scores, strict=True)
        )
        labels = tuple(sorted(best.items(), key=lambda kv: -kv[1]))
        return RoutingScores(labels, tuple(hits[:5]), product_hits)
