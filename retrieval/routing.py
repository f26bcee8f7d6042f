"""Routing scores: how close a message is to each knowledge entry and to the products."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.turns import Hit
from retrieval.knowledge_base import KnowledgeBase


@dataclass(frozen=True)
class RoutingScores:
    """Per-entry nearest-neighbour scores (best first) and the evidence behind them."""

    labels: tuple[tuple[str, float], ...]
    hits: tuple[Hit, ...]
    product_hits: tuple[Hit, ...]

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
        q = vector.reshape(1, -1)
        res = self.kb.routing.search(q, self.k)[0]
        best: dict[str, float] = {}
        hits = []
        for row, score in zip(res.rows, res.scores, strict=True):
            label = self.kb.routing.ids[row]
            if label not in best:
                best[label] = score
                kind = "intent" if self.kb.is_intent(label) else "faq"
                hits.append(Hit(label, kind, score, self.kb.routing.texts[row]))
        pres = self.kb.products.search(q, self.product_k)[0]
        product_hits = tuple(
            Hit(self.kb.products.ids[r], "product", s, self.kb.products.texts[r])
            for r, s in zip(pres.rows, pres.scores, strict=True)
        )
        labels = tuple(sorted(best.items(), key=lambda kv: -kv[1]))
        return RoutingScores(labels, tuple(hits[:5]), product_hits)
