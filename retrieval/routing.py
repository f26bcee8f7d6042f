"""Routing scores: how close a message is to each knowledge entry and to the products."""

from __future__ import annotations

import numpy as np

from core.turns import Hit, RoutingScores
from retrieval.index import SearchResult, VectorIndex
from retrieval.knowledge_base import KnowledgeBase


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
        # Read once: a catalogue sync may swap the index between this search and its ids.
        index = self.kb.products
        routing = self.kb.routing.search(vectors, self.k)
        products = index.search(vectors, self.product_k)
        return [self._scores(r, p, index) for r, p in zip(routing, products, strict=True)]

    def _scores(self, res: SearchResult, pres: SearchResult, index: VectorIndex) -> RoutingScores:
        best: dict[str, float] = {}
        hits = []
        ids, texts = self.kb.routing.ids, self.kb.routing.texts
        for row, score in zip(res.rows, res.scores, strict=True):
            label = ids[row]
            if label not in best:
                best[label] = score
                kind = "intent" if self.kb.is_intent(label) else "faq"
                hits.append(Hit(label, kind, score, texts[row]))
        pids, ptexts = index.ids, index.texts
        product_hits = tuple(
            Hit(pids[r], "product", s, ptexts[r]) for r, s in zip(pres.rows, pres.scores, strict=True)
        )
        labels = tuple(sorted(best.items(), key=lambda kv: -kv[1]))
        return RoutingScores(labels, tuple(hits[:5]), product_hits)
