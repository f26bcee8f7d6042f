"""Comparisons of the cards shown: the answer follows the catalogue's prices, ties included."""

from __future__ import annotations

from bot.engine.compare import comparison
from core.shop import Product


def _p(code: str, name: str, price: float, orders: int = 0) -> Product:
    return Product(code, name, price, "Bags & Purses", facts={"orders": orders})


A, B = _p("1", "Lunch Bag Alphabet Design", 1.65, 40), _p("2", "Lunch Bag Red Vintage Doily", 1.65, 40)
C = _p("3", "Jumbo Bag Pink Polkadot", 2.08, 12)


def test_the_cheaper_of_two_is_named_with_the_other_price() -> None:
    assert comparison([C, A], "which is cheaper?").text == \
        "The Lunch Bag Alphabet Design is the cheaper at £1.65 (the Jumbo Bag Pink Polkadot £2.08)."
    dearer = comparison([C, A], "which is more expensive?").text
    assert dearer.startswith("The Jumbo Bag Pink Polkadot is the more expensive at £2.08")


def test_two_at_the_same_price_are_said_to_cost_the_same() -> None:
    for question in ("which is cheaper, the first or the fourth?", "which one is dearer?"):
        answer = comparison([A, B], question).text
        assert answer == ("The Lunch Bag Alphabet Design and the Lunch Bag Red Vintage Doily both cost the "
                          "same: £1.65 each."), question
        assert "cheaper at" not in answer and "more expensive at" not in answer


def test_a_tie_for_cheapest_among_several_names_every_one() -> None:
    answer = comparison([C, A, B], "which is the cheapest?").text
    assert answer == ("The Lunch Bag Alphabet Design and the Lunch Bag Red Vintage Doily are the cheapest at "
                      "£1.65 each (the Jumbo Bag Pink Polkadot £2.08).")
    assert comparison([A, B, C], "which is the most expensive?").text == (
        "The Jumbo Bag Pink Polkadot is the most expensive at £2.08 (the Lunch Bag Alphabet Design £1.65, "
        "the Lunch Bag Red Vintage Doily £1.65).")


def test_equally_popular_products_are_both_named() -> None:
    assert comparison([A, B, C], "which is most popular?").text == \
        "The Lunch Bag Alphabet Design and the Lunch Bag Red Vintage Doily are the most popular of those: " \
        "each was on 40 orders."
    popular = comparison([C, A], "which is the most popular one?").text
    assert popular.startswith("The Lunch Bag Alphabet Design is")
    assert comparison([C, A], "which sells best?").text == \
        "The Lunch Bag Alphabet Design is the most popular of those: it was on 40 orders."


def test_the_one_picked_is_returned_and_a_tie_picks_none() -> None:
    assert comparison([C, A], "which is cheaper?").picked == A
    assert comparison([A, B, C], "which is the most expensive?").picked == C
    assert comparison([C, A, B], "which is the cheapest?").picked is None
    assert comparison([A, B], "which one is dearer?").picked is None
    assert comparison([C, A], "what's the difference?").picked is None
