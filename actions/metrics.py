"""Offline ranking metrics and the leave-last-invoice-out evaluation of the recommender."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from actions.recommender import Recommender, RecommenderConfig, Sale


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


def _summary(lists: dict[str, list[str]], truth: dict[str, set[str]], k: int,
             catalogue_size: int) -> dict[str, float]:
    n = max(len(lists), 1)
    return {
        f"recall_at_{k}": sum(recall_at_k(lists[c], truth[c], k) for c in lists) / n,
        f"ndcg_at_{k}": sum(ndcg_at_k(lists[c], truth[c], k) for c in lists) / n,
        "coverage": catalogue_coverage(lists.values(), catalogue_size),
    }


def evaluate_recommender(train_rows: Sequence[Sale], test_rows: Sequence[Sale], k: int = 10,
                         config: RecommenderConfig | None = None) -> dict[str, Any]:
    """Fit on ``train_rows``; score personal picks vs most-popular on the test customers.

    Only test customers with training history count, so both systems rank the same people.
    """
    model = Recommender(config).fit(train_rows)
    truth: dict[str, set[str]] = defaultdict(set)
    for sale in test_rows:
        if sale.customer_id is not None and sale.customer_id in model.customers:
            truth[sale.customer_id].add(sale.stock_code)
    popular = [s.stock_code for s in model.popular(k)]
    shipped = {c: [s.stock_code for s in model.for_customer(c, k)] for c in truth}
    baseline = {c: popular for c in truth}
    size = len(model.codes)
    return {
        "shipped": _summary(shipped, truth, k, size),
        "popularity": _summary(baseline, truth, k, size),
        "n_customers": len(truth),
    }
