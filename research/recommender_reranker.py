"""Can a learned re-ranker, or more blend parts, lift the shipped recommender? Validation only.

Two experiments on the validation folds of docs/recommender.md (fold A: ``validation_split``
depth 1, fold B: depth 2; both carved from the training part of leave-last-invoice-out, so the
test split's held-out invoices are never read):

* **Re-ranker**: the shipped blend proposes ``--candidates`` items per customer; a gradient-boosted
  classifier over per-item features (every blend part, co-purchase neighbours, all-time,
  120-day and 30-day popularity, popularity in the customer's country, how often the customer
  bought the item, the customer's number of invoices and items, days since their last visit,
  what other customers bought on their next invoice after the customer's items, and distinct
  buyers in the 30 days before the customer's visit, and what the customer's most alike
  customers bought) re-ranks them. It is trained on one
  fold's labels and scored on the other fold.
* **Extra parts**: one candidate feature at a time added to the shipped blend score with a weight
  from a small grid (each feature scaled to a row maximum of 1), scored on both folds.

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python research/recommender_reranker.py \\
        --transactions data/online_retail/transactions.csv --json
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.ensemble import HistGradientBoostingClassifier

from actions.metrics import leave_last_invoice_out, recall_at_k, validation_split
from actions.recommender import (
    Recommender,
    RecommenderConfig,
    Sale,
    _dense,
    _row_normalise,
    _scale,
    read_sales,
)

FloatArray = npt.NDArray[np.float64]

# Every part at weight 1, co-purchase over customers (the item-kNN settings chosen on validation).
ALL_PARTS = RecommenderConfig(own_weight=1.0, neighbour_weight=1.0, ease_weight=1.0,
                              content_weight=1.0, code_weight=1.0, popular_weight=1.0,
                              basket_share=0.0, shrink=30.0)
PART_NAMES = ("own", "neighbour", "ease", "content", "code", "popular")
FEATURES = ("blend", "rank", *PART_NAMES, "popularity_all_time", "popular_120d", "popular_30d",
            "popular_in_country", "times_bought", "customer_invoices", "customer_items",
            "days_since_visit", "next_invoice", "popular_before_visit", "customer_knn")
# Features tried as a sixth blend part.
EXTRA_PARTS = ("neighbour", "popular_30d", "popular_in_country", "times_bought", "next_invoice",
               "popular_before_visit", "customer_knn")
# "Selling at the time of the visit": the window before the held-out invoice's date, which is
# the request time a live shop knows (only training lines, so only the past, are counted).
VISIT_WINDOW_DAYS = 30.0
# Customers whose histories are most alike, for ``customer_knn``.
KNN_CUSTOMERS = 50
WEIGHTS = (0.1, 0.25, 0.5, 1.0)
RERANKERS: dict[str, dict[str, Any]] = {
    "gbt depth 3, 200 trees": {"max_depth": 3, "learning_rate": 0.05, "max_iter": 200},
    "gbt depth 4, 300 trees, l2 1": {"max_depth": 4, "learning_rate": 0.05, "max_iter": 300,
                                     "l2_regularization": 1.0},
    "gbt 15 leaves, 300 trees, ≥ 50 per leaf": {"max_leaf_nodes": 15, "learning_rate": 0.03,
                                                "max_iter": 300, "min_samples_leaf": 50},
}


@dataclass(frozen=True)
class Fold:
    """Candidates and their features for every scored customer of one validation fold."""

    features: list[FloatArray]  # one (candidates × FEATURES) matrix per customer
    labels: list[npt.NDArray[np.bool_]]
    candidates: list[list[str]]
    truth: list[set[str]]
    popularity_recall: float  # the most-popular baseline's Recall@10 on the same customers

    def ratio(self, rankings: Sequence[npt.NDArray[np.intp]]) -> float:
        """Recall@10 of the given candidate orders, as a multiple of most-popular."""
        recalls = [recall_at_k([codes[i] for i in order[:10]], truth, 10)
                   for order, codes, truth in zip(rankings, self.candidates, self.truth, strict=True)]
        return float(np.mean(recalls)) / self.popularity_recall

    def shipped(self) -> float:
        """The shipped blend's own ratio (its candidates in its order)."""
        return self.ratio([np.arange(len(c)) for c in self.candidates])


def read_countries(path: Path) -> dict[str, str]:
    """Customer id → country, from the transactions CSV (``read_sales`` does not keep it)."""
    countries: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("CustomerID"):
                countries[str(int(float(row["CustomerID"])))] = row.get("Country", "")
    return countries


def next_invoice_matrix(train: Sequence[Sale], item: dict[str, int]) -> sparse.csr_matrix:
    """Item × item: how often a customer's next invoice held column j after an invoice with row i.

    Rows are divided by the square root of their total so that best-sellers do not swamp it.
    """
    dated: dict[str, dict[str, tuple[str, set[int]]]] = defaultdict(dict)
    for sale in train:
        if sale.customer_id:
            date, items = dated[sale.customer_id].get(sale.invoice, (sale.date, set()))
            items.add(item[sale.stock_code])
            dated[sale.customer_id][sale.invoice] = (max(date, sale.date), items)
    rows: list[int] = []
    cols: list[int] = []
    for invoices in dated.values():
        ordered = [items for _, items in sorted(invoices.values(), key=lambda v: v[0])]
        for before, after in zip(ordered, ordered[1:], strict=False):
            for i in before:
                rows.extend([i] * len(after))
                cols.extend(after)
    n = len(item)
    counts = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    total = np.asarray(counts.sum(axis=1)).ravel()
    return sparse.csr_matrix(sparse.diags(1 / np.sqrt(np.maximum(total, 1.0))) @ counts)


def buyers_before(train: Sequence[Sale], days: FloatArray,
                  item: dict[str, int]) -> Callable[[float, float], FloatArray]:
    """``count(visit, window)``: distinct buyers per item among lines dated in [visit − window, visit).

    The lines are sorted by day once, so each customer's count reads only its window.
    """
    _, buyer = np.unique([s.customer_id or f"guest:{s.invoice}" for s in train], return_inverse=True)
    n = len(item)
    keys = buyer.astype(np.int64) * n + np.array([item[s.stock_code] for s in train], dtype=np.int64)
    order = np.argsort(days, kind="stable")
    sorted_days, sorted_keys = days[order], keys[order]

    def count(visit: float, window: float) -> FloatArray:
        lo, hi = np.searchsorted(sorted_days, [visit - window, visit], side="left")
        pairs = np.unique(sorted_keys[lo:hi])
        return np.bincount((pairs % n).astype(np.intp), minlength=n).astype(np.float64)

    return count


def customer_knn(normed: sparse.csr_matrix, rows: npt.NDArray[np.intp], k: int) -> FloatArray:
    """Items scored by each row's ``k`` most alike customers (cosine of the unit-length,
    recency-weighted histories ``normed``), weighted by that similarity: the neighbour half of
    TIFU-KNN (Hu et al. 2020), a strong next-basket baseline. One row per entry of ``rows``.
    """
    sim = _dense(normed[rows] @ normed.T)
    sim[np.arange(len(rows)), rows] = 0.0  # not the customer themself
    if k < sim.shape[1]:
        cut = -np.partition(-sim, k - 1, axis=1)[:, k - 1:k]
        sim[sim < cut] = 0.0
    return _dense(sparse.csr_matrix(sim) @ normed)


def build_fold(train: Sequence[Sale], held: Sequence[Sale], countries: dict[str, str],
               n_candidates: int) -> Fold:
    """Fit the shipped and all-parts recommenders on ``train``; features for ``held``'s customers."""
    shipped, every = Recommender().fit(train), Recommender(ALL_PARTS).fit(train)
    truth: dict[str, set[str]] = defaultdict(set)
    visit: dict[str, float] = {}
    for sale in held:
        if sale.customer_id and sale.customer_id in shipped.customers:
            truth[sale.customer_id].add(sale.stock_code)
            day = float(np.datetime64(sale.date, "m").astype(np.int64)) / 1440.0
            visit[sale.customer_id] = min(visit.get(sale.customer_id, day), day)
    customers = sorted(truth)
    codes = shipped.codes
    days = np.array([s.date for s in train], dtype="datetime64[m]").astype(np.int64) / 1440.0
    following = next_invoice_matrix(train, shipped._item)
    popular_before = buyers_before(train, days, shipped._item)
    normed = _row_normalise(shipped._history)
    end = float(days.max())
    in_country: dict[tuple[str, str], set[str]] = defaultdict(set)
    recent: dict[str, set[str]] = defaultdict(set)
    invoices: dict[str, set[str]] = defaultdict(set)
    item_invoices: dict[tuple[str, str], set[str]] = defaultdict(set)
    last_visit: dict[str, float] = {}
    for sale, day in zip(train, days, strict=True):
        if end - day <= 30:
            recent[sale.stock_code].add(sale.customer_id or f"guest:{sale.invoice}")
        if sale.customer_id:
            in_country[(countries.get(sale.customer_id, ""), sale.stock_code)].add(sale.customer_id)
            invoices[sale.customer_id].add(sale.invoice)
            item_invoices[(sale.customer_id, sale.stock_code)].add(sale.invoice)
            last_visit[sale.customer_id] = max(last_visit.get(sale.customer_id, day), day)
    all_time = np.log1p(shipped._popularity)
    trending = _scale(shipped._trending)
    month = np.log1p(np.array([len(recent.get(str(c), ())) for c in codes], dtype=np.float64))
    rows = np.array([shipped._customer[c] for c in customers], dtype=np.intp)
    features: list[FloatArray] = []
    labels: list[npt.NDArray[np.bool_]] = []
    candidates: list[list[str]] = []
    for start in range(0, len(customers), 256):
        batch = rows[start:start + 256]
        blend = np.sum(list(shipped._parts(batch).values()), axis=0)
        parts = every._parts(batch)
        nexts = np.asarray((shipped._history[batch] @ following).todense())
        alike = customer_knn(normed, batch, KNN_CUSTOMERS)
        for r, customer in enumerate(customers[start:start + 256]):
            cand = np.argsort(-blend[r], kind="stable")[:n_candidates]
            country = countries.get(customer, "")
            n = len(cand)
            features.append(np.column_stack([
                blend[r, cand], np.arange(n), *[parts[p][r, cand] for p in PART_NAMES],
                all_time[cand], trending[cand], month[cand],
                np.log1p([len(in_country.get((country, str(codes[i])), ())) for i in cand]),
                [len(item_invoices.get((customer, str(codes[i])), ())) for i in cand],
                np.full(n, np.log1p(len(invoices[customer]))),
                np.full(n, np.log1p(shipped._history[batch[r]].nnz)),
                np.full(n, end - last_visit[customer]),
                nexts[r, cand],
                np.log1p(popular_before(visit[customer], VISIT_WINDOW_DAYS)[cand]),
                alike[r, cand],
            ]).astype(np.float64))
            candidates.append([str(codes[i]) for i in cand])
            labels.append(np.array([str(codes[i]) in truth[customer] for i in cand]))
    held_out = [truth[c] for c in customers]
    popular = [s.stock_code for s in shipped.popular(10)]
    baseline = float(np.mean([recall_at_k(popular, t, 10) for t in held_out]))
    return Fold(features, labels, candidates, held_out, baseline)


def rerank(train: Fold, score: Fold, params: dict[str, Any]) -> float:
    """Train the classifier on ``train``'s labels; the ratio of its order on ``score``."""
    model = HistGradientBoostingClassifier(random_state=0, **params)
    model.fit(np.vstack(train.features), np.concatenate(train.labels))
    orders = [np.argsort(-model.predict_proba(f)[:, 1], kind="stable") for f in score.features]
    return score.ratio(orders)


def with_part(fold: Fold, feature: str, weight: float) -> float:
    """The ratio when ``weight`` × ``feature`` (scaled to a row maximum of 1) joins the blend."""
    j = FEATURES.index(feature)
    orders = []
    for f in fold.features:
        top = f[:, j].max()
        extra = f[:, j] / top if top > 0 else f[:, j]
        orders.append(np.argsort(-(f[:, 0] + weight * extra), kind="stable"))
    return fold.ratio(orders)


def run(transactions: Path, n_candidates: int) -> dict[str, Any]:
    """Both experiments on folds A and B; every figure is Recall@10 ÷ most-popular."""
    sales = read_sales(transactions)
    countries = read_countries(transactions)
    outer_train, _ = leave_last_invoice_out(sales)  # the test invoices go no further
    a = build_fold(*validation_split(outer_train, 1), countries, n_candidates)
    b = build_fold(*validation_split(outer_train, 2), countries, n_candidates)
    result: dict[str, Any] = {
        "customers": {"A": len(a.truth), "B": len(b.truth)},
        "candidates": n_candidates,
        "shipped": {"A": a.shipped(), "B": b.shipped()},
        "rerankers": {name: {"B→A": rerank(b, a, p), "A→B": rerank(a, b, p)}
                      for name, p in RERANKERS.items()},
        "extra_parts": [
            {"feature": feature, "weight": w, "A": with_part(a, feature, w),
             "B": with_part(b, feature, w)}
            for feature in EXTRA_PARTS for w in WEIGHTS
        ],
    }
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Print the figures (JSON with ``--json``, else one line each)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=Path, required=True)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.transactions, args.candidates)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    print(f"shipped: A {result['shipped']['A']:.3f}× B {result['shipped']['B']:.3f}×")
    for name, r in result["rerankers"].items():
        print(f"{name}: trained on B, A {r['B→A']:.3f}×; trained on A, B {r['A→B']:.3f}×")
    for row in result["extra_parts"]:
        mean = (row["A"] + row["B"]) / 2
        print(f"+ {row['weight']} × {row['feature']}: A {row['A']:.3f}× B {row['B']:.3f}× mean {mean:.3f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
