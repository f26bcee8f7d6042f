"""The recommender on the hand-made transactions of ``conftest.py``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from actions.recommender import (
    Recommender,
    Scored,
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


def test_fitting_the_full_transactions_takes_seconds() -> None:
    start = time.perf_counter()
    model = Recommender.from_csv(REAL_CSV)
    assert time.perf_counter() - start < 5.0
    assert len(model.codes) > 3000 and len(model.customers) > 3000
    assert len(model.for_customer(next(iter(model.customers)), 10)) == 10
