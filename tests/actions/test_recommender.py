"""The recommender on the hand-made transactions of ``conftest.py``, hand-made sales and the real data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from actions.recommender import (
    PREVIOUS_CONFIG,
    Recommender,
    RecommenderConfig,
    Sale,
    Scored,
    ease_weights,
    implicit_als,
    is_product_code,
    normalise_customer_id,
    read_sales,
)
from core.settings import REPO_ROOT

REAL_CSV = REPO_ROOT / "data" / "online_retail" / "transactions.csv"


@pytest.fixture
def model(sales_csv: Path) -> Recommender:
    return Recommender.from_csv(sales_csv)


def codes(picks: list[Scored]) -> list[str]:
    return [p.stock_code for p in picks]


def test_read_sales_keeps_only_positive_product_sales(sales_csv: Path) -> None:
    sales = read_sales(sales_csv)
    invoices = {s.invoice for s in sales}
    assert not any(i.startswith("C") for i in invoices)  # cancellation
    assert "500013" not in invoices  # a return (negative quantity)
    assert "500012" not in invoices  # postage only
    assert "500030" not in invoices  # zero price
    assert all(s.quantity > 0 for s in sales)
    assert {s.customer_id for s in sales if s.invoice == "500009"} == {"12345"}
    assert {s.customer_id for s in sales if s.invoice == "500004"} == {None}


def test_read_sales_can_restrict_to_a_catalogue(sales_csv: Path) -> None:
    sales = read_sales(sales_csv, known={"10001", "10002"})
    assert {s.stock_code for s in sales} == {"10001", "10002"}


@pytest.mark.parametrize(("raw", "expected"), [
    ("13607.0", "13607"), (" 13607 ", "13607"), (13607, "13607"), ("", None), (None, None),
])
def test_normalise_customer_id(raw: object, expected: str | None) -> None:
    assert normalise_customer_id(raw) == expected


@pytest.mark.parametrize(("code", "product"), [
    ("85123A", True), ("DCGSSGIRL", True), ("POST", False), ("BANK CHARGES", False),
    ("gift_0001_20", False), ("M", False),
])
def test_is_product_code(code: str, product: bool) -> None:
    assert is_product_code(code) is product


def test_popular_counts_distinct_buyers_not_lines(model: Recommender) -> None:
    top = codes(model.popular(3))
    # 10005 has the most invoices but only two buyers.
    assert top == ["10006", "10001", "10002"]
    assert model.popular(1)[0] == Scored("10006", 1.0, "popular")


def test_popular_respects_exclude(model: Recommender) -> None:
    assert codes(model.popular(2, exclude=["10006"])) == ["10001", "10002"]


def test_repeat_purchases_surface_first(model: Recommender) -> None:
    picks = model.for_customer("12345", 4)
    # 10007 is the least popular item overall, but this customer keeps buying it.
    assert codes(picks)[:2] == ["10007", "10004"]
    assert picks[0].reason == "you bought this before"
    assert len(picks) == 4 and picks[2].reason != "you bought this before"


def test_for_customer_accepts_the_csv_id_form(model: Recommender) -> None:
    assert codes(model.for_customer("12345.0", 3)) == codes(model.for_customer("12345", 3))


def test_for_customer_respects_exclude(model: Recommender) -> None:
    assert "10007" not in codes(model.for_customer("12345", 4, exclude=["10007"]))


def test_cold_start_is_popular(model: Recommender) -> None:
    assert model.for_customer("99999", 5) == model.popular(5)
    assert "99999" not in model.customers and "12345" in model.customers


def test_similar_to_uses_descriptions_and_co_purchase(model: Recommender) -> None:
    assert model.similar_to("10001", 3)[0].stock_code == "10002"
    star = {p.stock_code: p for p in model.similar_to("10003", 6)}
    # GOLD STAR BAUBLE was never bought with BLUE STAR LANTERN: only the name links them.
    assert star["10005"].reason == "similar to 10003"
    assert "10003" not in star


def test_similar_to_unknown_item_falls_back_to_popular(model: Recommender) -> None:
    assert model.similar_to("99999", 3) == model.popular(3)


def test_empty_fit_recommends_nothing() -> None:
    model = Recommender().fit([])
    assert model.popular(3) == [] and model.for_customer("1", 3) == []


def test_the_full_transactions_fit() -> None:
    # How long it takes is measured in docs/recommender.md ("Cost"), not asserted here: a timed
    # assertion fails on a loaded machine and proves nothing about the code.
    model = Recommender.from_csv(REAL_CSV)
    assert len(model.codes) > 3000 and len(model.customers) > 3000
    assert len(model.for_customer(next(iter(model.customers)), 10)) == 10


# --- The blend's parts on hand-made sales: each finds what it should and nothing else. ---

def day_sale(invoice: str, code: str, customer: str | None, day: int, name: str = "") -> Sale:
    """A one-unit sale on day ``day`` of 2011 (day 1 is 1 January)."""
    date = np.datetime64("2011-01-01") + np.timedelta64(day - 1, "D")
    return Sale(invoice, code, customer, 1, f"{date} 10:00:00", name or f"ITEM {code}")


ONLY = RecommenderConfig(own_weight=0.0, neighbour_weight=0.0, ease_weight=0.0, als_weight=0.0,
                         content_weight=0.0, code_weight=0.0, popular_weight=0.0)


def co_bought() -> list[Sale]:
    """Five customers buy 20001 with 20002; four others buy 20003 with 20004.

    Customer "mug" bought 20001 only: what goes with it is 20002, not 20003/20004 (which are
    more popular than 20002 overall).
    """
    rows = []
    for n in range(5):
        rows += [day_sale(f"a{n}", "20001", f"p{n}", 10 + n), day_sale(f"a{n}", "20002", f"p{n}", 10 + n)]
    for n in range(6):
        rows += [day_sale(f"b{n}", "20003", f"q{n}", 20 + n), day_sale(f"b{n}", "20004", f"q{n}", 20 + n)]
    rows.append(day_sale("m1", "20001", "mug", 30))
    return rows


@pytest.mark.parametrize("part", [
    {"ease_weight": 1.0, "ease_min_buyers": 1},
    {"neighbour_weight": 1.0},
    {"als_weight": 1.0, "als_factors": 4, "als_reg": 0.1},
])
def test_collaborative_parts_recommend_what_is_bought_with_the_history(part: dict[str, float]
                                                                       ) -> None:
    model = Recommender(replace(ONLY, **part)).fit(co_bought())
    picks = model.for_customer("mug", 4)
    scores = {p.stock_code: p.score for p in picks}
    # ALS may also rank the mug itself (it models the whole row); EASE and kNN never score it.
    new = [p for p in picks if p.stock_code != "20001"]
    assert new[0] == Scored("20002", new[0].score, "goes with items you bought")
    assert scores["20002"] > 3 * max(scores.get("20003", 0.0), scores.get("20004", 0.0))


def test_ease_weights_match_the_closed_form() -> None:
    x = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 0], [0, 0, 1, 1], [1, 0, 0, 1]], float)
    lam = 2.0
    p = np.linalg.inv(x.T @ x + lam * np.eye(4))
    expected = np.eye(4) - p / np.diag(p)
    np.fill_diagonal(expected, 0.0)
    got = ease_weights(sparse.csr_matrix(x * 3.0), lam).toarray()  # weights are binarised
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_ease_keeps_each_items_largest_positive_weights_and_skips_rare_items() -> None:
    x = sparse.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 0], [1, 0, 1, 0],
                                    [0, 0, 0, 1]], float))
    full = ease_weights(x, 1.0).toarray()
    kept = ease_weights(x, 1.0, keep=1).toarray()
    # Each row keeps its largest weight (ties at the cut stay) and nothing negative.
    best = full.max(axis=1, keepdims=True)
    np.testing.assert_array_equal(kept, np.where((full == best) & (full > 0), full, 0.0))
    assert (kept > 0).sum() < (full > 0).sum()
    # Item 3 has a single buyer: with min_buyers=2 it is left out of the model entirely.
    rare = ease_weights(x, 1.0, min_buyers=2).toarray()
    assert not rare[3].any() and not rare[:, 3].any() and rare[:3, :3].any()


def test_implicit_als_is_deterministic() -> None:
    history = sparse.csr_matrix(np.eye(5)[[0, 1, 1, 2, 3, 4, 0]] + np.eye(5)[[1, 2, 3, 4, 0, 1, 2]])
    first, second = implicit_als(history, 3, 0.1, 5.0, 5), implicit_als(history, 3, 0.1, 5.0, 5)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_code_neighbours_link_a_range_and_colour_variants() -> None:
    codes = ["22697", "22698", "22699", "22710", "85123A", "85123B", "DCGSSGIRL"]
    model = Recommender(replace(ONLY, code_weight=1.0, code_window=2)).fit(
        [day_sale(str(i), c, "c1", 1) for i, c in enumerate(codes)])
    sim = model._code_sim.toarray()
    index = {c: i for i, c in enumerate(model.codes)}
    assert sim[index["22697"], index["22698"]] == 0.5
    assert sim[index["22697"], index["22699"]] == pytest.approx(1 / 3)
    assert sim[index["22699"], index["22710"]] == 0.0  # 11 apart: another range
    assert sim[index["85123A"], index["85123B"]] == 1.0  # same number, another colour
    assert not sim[index["DCGSSGIRL"]].any() and not sim.diagonal().any()


def test_content_part_finds_items_sharing_words_never_bought_together() -> None:
    rows = [day_sale("1", "30001", "c1", 1, "RED HEART MUG"),
            day_sale("2", "30002", "c2", 2, "RED HEART PLATE"),
            day_sale("3", "30003", "c3", 3, "GREEN TREE CANDLE")]
    picks = Recommender(replace(ONLY, content_weight=1.0)).fit(rows).for_customer("c1", 3)
    assert picks == [Scored("30002", 1.0, "like items you bought")]


def test_trending_popularity_favours_recent_buyers_but_popular_stays_all_time() -> None:
    rows = [day_sale(f"old{n}", "40001", f"o{n}", 1) for n in range(3)]
    rows += [day_sale(f"new{n}", "40002", f"n{n}", 300) for n in range(2)]
    rows.append(day_sale("me", "40003", "me", 300))
    model = Recommender(replace(ONLY, popular_weight=1.0, popular_half_life_days=30.0)).fit(rows)
    # Two buyers this week beat three a year ago (the customer's own item is recent too).
    assert codes(model.for_customer("me", 3)) == ["40002", "40003", "40001"]
    assert codes(model.popular(2)) == ["40001", "40002"]  # the baseline: distinct buyers ever


def test_exclude_removes_only_what_is_asked(model: Recommender) -> None:
    full = codes(model.for_customer("12345", 5))
    assert codes(model.for_customer("12345", 4, exclude=[full[1]])) == full[:1] + full[2:]


def test_previous_blend_reproduces_the_old_reasons(model: Recommender, sales_csv: Path) -> None:
    previous = Recommender.from_csv(sales_csv, config=PREVIOUS_CONFIG)
    assert previous._ease.nnz == 0 and previous._code_sim.nnz == 0
    assert codes(previous.for_customer("12345", 2)) == ["10007", "10004"]
    assert {p.reason for p in previous.for_customer("12345", 7)} <= {
        "you bought this before", "goes with items you bought", "popular"}


def test_personal_picks_on_the_real_transactions_are_deterministic() -> None:
    rows = read_sales(REAL_CSV)
    first, second = Recommender().fit(rows), Recommender().fit(rows)
    customers = sorted(first.customers)[:200]
    picks = [first.for_customer(c, 10) for c in customers]
    assert picks == [second.for_customer(c, 10) for c in customers]
    assert all(len(p) == 10 for p in picks)
