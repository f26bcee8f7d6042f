"""Offline ranking metrics and the leave-last-invoice-out evaluation of the recommender."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from actions.recommender import PREVIOUS_CONFIG, Recommender, RecommenderConfig, Sale

# Every part off; the other settings as tuned (history half-life 365 days, EASE λ=300 on
# items with 3+ buyers, ALS 64 factors, stock-code window 3, popularity half-life 120 days).
_NOTHING = RecommenderConfig(
    half_life_days=365.0, own_weight=0.0, neighbour_weight=0.0, basket_share=0.5, shrink=2.0,
    ease_weight=0.0, ease_lambda=300.0, ease_min_buyers=3, ease_keep=200,
    als_weight=0.0, als_factors=64, als_reg=30.0, als_alpha=20.0, als_iters=10,
    content_weight=0.0, code_weight=0.0, code_window=3,
    popular_weight=0.0, popular_half_life_days=120.0,
)

# Every method compared in docs/recommender.md, with the settings chosen on the validation
# splits; ``shopbot eval-recommender --compare`` scores them next to the shipped default.
COMPARED: dict[str, RecommenderConfig] = {
    "previous": PREVIOUS_CONFIG,
    "ease": replace(_NOTHING, half_life_days=120.0, ease_weight=1.0, ease_lambda=50.0,
                    ease_min_buyers=3),
    "item_knn": replace(_NOTHING, half_life_days=120.0, neighbour_weight=1.0, shrink=100.0,
                        basket_share=0.0),
    "als": replace(_NOTHING, als_weight=1.0),
    "ease_own_popular": replace(_NOTHING, own_weight=1.5, ease_weight=0.75,
                                popular_weight=0.75),
    "item_knn_own_popular": replace(_NOTHING, own_weight=3.0, neighbour_weight=1.0,
                                    shrink=30.0, basket_share=0.0, popular_weight=0.75),
    "als_own_popular": replace(_NOTHING, own_weight=0.75, als_weight=1.5, popular_weight=0.75),
    "own_content_code_popular": replace(_NOTHING, own_weight=3.0, content_weight=1.0,
                                        code_weight=0.5, popular_weight=1.5),
    "als_blend": replace(_NOTHING, own_weight=1.0, als_weight=1.5, content_weight=0.75,
                         code_weight=1.0, popular_weight=1.0),
}


def recall_at_k(recommended: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Share of the relevant items found in the first ``k`` recommendations (0 if none)."""
    if not relevant:
        return 0.0
    return len(set(recommended[:k]) & set(relevant)) / len(set(relevant))


def ndcg_at_k(recommended: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Binary-relevance NDCG of the first ``k`` recommendations."""
    wanted = set(relevant)
    if not wanted:
        return 0.0
    dcg = sum(1 / math.log2(rank + 2) for rank, item in enumerate(recommended[:k])
              if item in wanted)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(k, len(wanted))))
    return dcg / ideal


def catalogue_coverage(recommendations: Iterable[Sequence[str]], catalogue_size: int) -> float:
    """Share of the catalogue that appears in at least one recommendation list."""
    if catalogue_size <= 0:
        return 0.0
    return len({item for items in recommendations for item in items}) / catalogue_size


def leave_last_invoice_out(rows: Sequence[Sale]) -> tuple[list[Sale], list[Sale]]:
    """Hold out each repeat customer's last invoice (by date, then number); train on the rest.

    Guest rows and customers with a single invoice stay in the training rows.
    """
    invoices: dict[str, dict[str, str]] = defaultdict(dict)
    for sale in rows:
        if sale.customer_id:
            seen = invoices[sale.customer_id].get(sale.invoice)
            invoices[sale.customer_id][sale.invoice] = max(seen or sale.date, sale.date)
    held = {
        max(dates, key=lambda inv: (dates[inv], inv))
        for dates in invoices.values() if len(dates) >= 2
    }
    train = [s for s in rows if s.invoice not in held]
    test = [s for s in rows if s.invoice in held]
    return train, test


def validation_split(train_rows: Sequence[Sale], depth: int = 1) -> tuple[list[Sale], list[Sale]]:
    """Leave-last-invoice-out applied ``depth`` more times to training rows, for tuning.

    ``depth=1`` holds out each repeat customer's last training invoice; the rows of the outer
    test split are never involved.
    """
    train, held = list(train_rows), list[Sale]()
    for _ in range(depth):
        train, held = leave_last_invoice_out(train)
    return train, held


def _summary(lists: dict[str, list[str]], truth: dict[str, set[str]], k: int,
             catalogue_size: int) -> dict[str, float]:
    n = max(len(lists), 1)
    return {
        f"recall_at_{k}": sum(recall_at_k(lists[c], truth[c], k) for c in lists) / n,
        f"ndcg_at_{k}": sum(ndcg_at_k(lists[c], truth[c], k) for c in lists) / n,
        "coverage": catalogue_coverage(lists.values(), catalogue_size),
    }


def evaluate_recommender(train_rows: Sequence[Sale], test_rows: Sequence[Sale], k: int = 10,
                         config: RecommenderConfig | None = None,
                         alternatives: Mapping[str, RecommenderConfig] | None = None
                         ) -> dict[str, Any]:
    """Fit on ``train_rows``; score personal picks vs most-popular on the test customers.

    Only test customers with training history count, so every system ranks the same people.
    Each of ``alternatives`` (e.g. ``COMPARED``) is fitted on the same rows and scored under its
    name, and then ``fit_seconds`` gives every model's fit time.
    """
    start = time.perf_counter()
    model = Recommender(config).fit(train_rows)
    fit_seconds = {"shipped": time.perf_counter() - start}
    truth: dict[str, set[str]] = defaultdict(set)
    for sale in test_rows:
        if sale.customer_id is not None and sale.customer_id in model.customers:
            truth[sale.customer_id].add(sale.stock_code)
    popular = [s.stock_code for s in model.popular(k)]
    shipped = {c: [s.stock_code for s in model.for_customer(c, k)] for c in truth}
    baseline = {c: popular for c in truth}
    size = len(model.codes)
    result: dict[str, Any] = {
        "shipped": _summary(shipped, truth, k, size),
        "popularity": _summary(baseline, truth, k, size),
        "n_customers": len(truth),
    }
    for name, alternative in (alternatives or {}).items():
        start = time.perf_counter()
        other = Recommender(alternative).fit(train_rows)
        fit_seconds[name] = time.perf_counter() - start
        picks = {c: [s.stock_code for s in other.for_customer(c, k)] for c in truth}
        result[name] = _summary(picks, truth, k, size)
    if alternatives:
        result["fit_seconds"] = fit_seconds
    return result
