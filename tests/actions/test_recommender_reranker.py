"""bench/recommender_reranker.py on the real transactions: its folds agree with the CLI's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from actions.metrics import evaluate_recommender, leave_last_invoice_out, validation_split
from actions.recommender import read_sales
from tests.bench_script import load_bench_script

ROOT = Path(__file__).resolve().parents[2]
REAL_CSV = ROOT / "data" / "online_retail" / "transactions.csv"


rr = load_bench_script("recommender_reranker")


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
