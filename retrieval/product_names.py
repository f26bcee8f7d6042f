"""Which catalogue product a message names, by the words of its name, not by embedding distance.

An embedding's nearest neighbour is often a sibling product ("Jumbo Bag Blue Paisley" for
"jumbo bag scandinavian blue paisley"); a question about a product must be answered about
the one the shopper named. A product is named when the message holds most of its name's
words, weighted by how rare each word is in the catalogue (so "jumbo bag" alone names no
single product, while "scandinavian blue paisley" does). Plurals and case are ignored.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from core.shop import Product

_WORD = re.compile(r"[a-z0-9]+")
# Words that say nothing about which product: packaging and filler.
_MAX_POSTINGS = 100
_IGNORED = frozenset({"of", "the", "and", "a", "an", "in", "with", "for", "set", "pack", "box", "to",
                      "on", "s"})


def words(text: str) -> list[str]:
    """Lower-cased word stems (a trailing plural "s" dropped) without filler words."""
    out = []
    for w in _WORD.findall(text.lower()):
        if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        if w not in _IGNORED:
            out.append(w)
    return out


@dataclass(frozen=True)
class NamedProduct:
    """The product a message names and how much of its (weighted) name the message holds."""

    product: Product
    coverage: float


class ProductNames:
    """Finds the catalogue product whose name a message holds."""

    def __init__(self, products: Sequence[Product], min_coverage: float = 0.75,
                 min_unique: float = 0.5) -> None:
        self.min_coverage = min_coverage
        self.min_unique = min_unique
        # Counts ("Pack of 12") are left out: shoppers rarely say them.
        self._names = [(p, {w for w in words(p.name) if not w.isdigit()}) for p in products]
        df: Counter[str] = Counter(w for _, ws in self._names for w in ws)
        n = max(1, len(self._names))
        self._idf = {w: math.log(1 + n / c) for w, c in df.items()}
        self._total = [sum(self._idf[w] for w in ws) or 1.0 for _, ws in self._names]
        # Candidates come from the rarer words only ("red" is in hundreds of names): on this
        # catalogue every name has a word in at most _MAX_POSTINGS names, and a name covered
        # to 75 % of its weight holds its rare words.
        self._by_word: dict[str, list[int]] = {}
        for i, (_, ws) in enumerate(self._names):
            for w in ws:
                if df[w] <= _MAX_POSTINGS:
                    self._by_word.setdefault(w, []).append(i)

    def find(self, text: str, partial: bool = False) -> NamedProduct | None:
        """The product whose name ``text`` holds: at least ``min_coverage`` of its name, or, with
        ``partial``, at least ``min_unique`` of it when no other name holds the same words ("the
        regency cakestand": one product, "Regency Cakestand 3 Tier"). Partial names are for a
        message already known to ask about a product: "how do I fix my car engine" holds half of
        "Pack 3 Fire Engine/Car Patches".

        The name that holds the most of what the message says wins ("the spaceboy lunch bag" is
        the Lunch Bag Spaceboy Design, not the Spaceboy Lunch Box), then the one the message
        covers most, then the more popular one.
        """
        said = set(words(text))
        candidates = {i for w in said for i in self._by_word.get(w, ())}
        best: tuple[float, float, int] | None = None
        chosen: NamedProduct | None = None
        least = self.min_unique if partial else self.min_coverage
        for i in candidates:
            product, name = self._names[i]
            held = name & said
            weight = sum(self._idf[w] for w in held)
            coverage = weight / self._total[i]
            # Two of its words at least, unless the whole name is one word.
            if len(held) < min(2, len(name)) or coverage < least:
                continue
            if coverage < self.min_coverage and self._holding(held, candidates) > 1:
                continue
            key = (round(weight, 6), round(coverage, 6), product.popularity)
            if best is None or key > best:
                best, chosen = key, NamedProduct(product, coverage)
        return chosen

    def _holding(self, held: set[str], candidates: set[int]) -> int:
        """How many of the candidate names hold every word of ``held``."""
        return sum(1 for i in candidates if held <= self._names[i][1])
