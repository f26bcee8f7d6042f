"""research/recommender_reranker.py on the real transactions: its folds agree with the CLI's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from research_script import load_research_script

from actions.metrics import evaluate_recommender, leave_last_invoice_out, validation_split
from actions.recommender import read_sales

ROOT = Path(__file__).resolve().parents[2]
REAL_CSV = ROOT / "data" / "online_retail" / "transactions.csv"


rr = load_research_script("recommender_reranker")


@pytest.fixture(scope="module")
def fold_a():
    sales = read_sales(REAL_CSV)
    outer_train, outer_test = leave_last_invoice_out(sales)
    train, held = validation_split(outer_train, 1)
    fold = rr.build_fold(train, held, rr.read_countries(REAL_CSV), 50)
    return fold, train, held, {s.invoice for s in outer_test}


def test_the_shipped_blend_scores_as_the_cli_does_on_fold_a(fold_a) -> None:
    fold, train, held, test_invoices = fold_a
    assert not test_invoices & {s.invoice for s in train + held}  # the test split is never read
    cli = evaluate_recommender(train, held)
    assert len(fold.truth) == cli["n_customers"]
    expected = cli["shipped"]["recall_at_10"] / cli["popularity"]["recall_at_10"]
    assert fold.shipped() == pytest.approx(expected, rel=1e-9)
    # A part at weight 0 changes nothing; the candidates keep the shipped order.
    assert rr.with_part(fold, "popular_in_country", 0.0) == pytest.approx(fold.shipped())


def test_features_and_labels_line_up_with_the_candidates(fold_a) -> None:
    fold = fold_a[0]
    for features, labels, codes, truth in zip(fold.features, fold.labels, fold.candidates,
                                              fold.truth, strict=True):
        assert features.shape == (len(codes), len(rr.FEATURES)) == (len(labels), len(rr.FEATURES))
        assert np.isfinite(features).all()
        assert [c for c, hit in zip(codes, labels, strict=True) if hit] == [c for c in codes if c in truth]
    assert any(labels.any() for labels in fold.labels)


def test_a_reranker_that_learns_the_blend_order_keeps_its_quality(fold_a) -> None:
    full = fold_a[0]
    fold = rr.Fold(full.features[:400], full.labels[:400], full.candidates[:400], full.truth[:400],
                   full.popularity_recall)
    # Trained and scored on the same customers, a re-ranker can at least find what the blend found.
    ratio = rr.rerank(fold, fold, {"max_depth": 3, "max_iter": 10, "learning_rate": 0.3})
    assert ratio > 0.8 * fold.shipped()


def _sale(invoice: str, code: str, customer: str | None, date: str) -> rr.Sale:
    return rr.Sale(invoice=invoice, stock_code=code, customer_id=customer, quantity=1, date=date)


def test_next_invoice_counts_what_followed_each_invoice_of_the_same_customer() -> None:
    item = {"A": 0, "B": 1, "C": 2}
    train = [
        _sale("2", "B", "c1", "2011-01-02 10:00"),  # out of order on purpose: dates decide
        _sale("1", "A", "c1", "2011-01-01 10:00"),
        _sale("3", "C", "c1", "2011-01-03 10:00"),
        _sale("4", "C", "c2", "2011-01-01 10:00"),
        _sale("5", "A", None, "2011-01-02 10:00"),  # a guest has no next invoice
    ]
    counts = rr.next_invoice_matrix(train, item).toarray()
    # A → B and B → C, each row divided by the square root of its one count; C led nowhere.
    assert counts.tolist() == [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]


def test_buyers_before_counts_distinct_buyers_in_the_window_only() -> None:
    item = {"A": 0, "B": 1}
    train = [
        _sale("1", "A", "c1", "2011-01-10 10:00"),
        _sale("2", "A", "c1", "2011-01-11 10:00"),  # the same buyer again: still one
        _sale("3", "A", "c2", "2011-01-12 10:00"),
        _sale("4", "B", None, "2011-01-12 11:00"),
        _sale("5", "B", "c3", "2010-11-01 10:00"),  # before the window
        _sale("6", "B", "c4", "2011-01-20 10:00"),  # after the visit: the future is not counted
    ]
    days = np.array([s.date for s in train], dtype="datetime64[m]").astype(np.int64) / 1440.0
    visit = float(np.datetime64("2011-01-15 00:00", "m").astype(np.int64)) / 1440.0
    assert rr.buyers_before(train, days, item)(visit, 30.0).tolist() == [2.0, 1.0]


def test_customer_knn_scores_items_of_the_most_alike_customers_only() -> None:
    from scipy import sparse

    # Items 0-3. Customer 0 bought 0 and 1; customer 1 bought 0, 1 and 2 (alike);
    # customer 2 bought 0 and 3 (less alike); customer 3 bought only 3 (nothing shared).
    history = sparse.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 0, 1], [0, 0, 0, 1]],
                                         dtype=np.float64))
    normed = rr._row_normalise(history)
    one = rr.customer_knn(normed, np.array([0]), 1)[0]
    assert one == pytest.approx(normed[1].toarray()[0] * (normed[0] @ normed[1].T).toarray()[0, 0])
    assert one[3] == 0.0, "the less alike customer is past k = 1"
    two = rr.customer_knn(normed, np.array([0]), 2)[0]
    assert two[3] > 0.0 and two[2] > two[3], "the closer neighbour's item ranks higher"
    assert rr.customer_knn(normed, np.array([3]), 3)[0][:3].sum() > 0.0  # 2 shares item 3
    alone = rr.customer_knn(normed, np.array([1]), 3)[0]
    assert alone[2] == 0.0, "a customer's own purchases do not count as a neighbour's"
