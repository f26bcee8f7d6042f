"""Ranking a search's candidates: a colour the kind lacks is said, a price order, presents."""

from __future__ import annotations

from bot.engine.context import name_words
from bot.engine.interfaces import Search
from bot.engine.ranking import by_popularity, meets, rank
from core.shop import Product


def _p(code: str, name: str, price: float, category: str = "Home Decor", popularity: int = 0) -> Product:
    return Product(code, name, price, category, popularity)


LANTERNS = [_p("1", "White Metal Lantern", 3.75), _p("2", "Red Toadstool Night Light", 1.65),
            _p("3", "Hanging Star Lantern", 1.65), _p("4", "Red Metal Lantern", 4.95),
            _p("5", "Paper Lantern Snow Star", 5.75)]
VOCABULARY = name_words(LANTERNS)


def _codes(products: list[tuple[Product, float]]) -> list[str]:
    return [p.stock_code for p, _ in products]


def test_the_colour_asked_of_that_kind_comes_first() -> None:
    nearest = [(p, 1.0) for p in LANTERNS]
    ranked = rank(nearest, Search("red lanterns"), act=None, vocabulary=VOCABULARY)
    assert _codes(ranked.products)[:1] == ["4"] and ranked.missing is None
    # The other lanterns next, before a red thing of another kind.
    assert _codes(ranked.products)[1:4] == ["1", "3", "5"]


def test_a_colour_the_kind_never_comes_in_is_said_and_the_kind_shown() -> None:
    nearest = [(p, 1.0) for p in LANTERNS if p.stock_code != "4"]
    ranked = rank(nearest, Search("blue lantern"), act=None, vocabulary=VOCABULARY)
    assert ranked.missing == "blue lanterns"
    assert _codes(ranked.products)[:3] == ["1", "3", "5"], "lanterns, then the rest"
    # No colour asked: the nearest order stands.
    assert _codes(rank(nearest, Search("lanterns"), act=None, vocabulary=VOCABULARY).products) == \
        _codes(nearest)


def test_the_cheapest_or_dearest_of_a_kind_in_price_order() -> None:
    nearest = [(p, 1.0) for p in LANTERNS]
    cheapest = rank(nearest, Search("cheapest lanterns", order="ascending"), act=None, vocabulary=VOCABULARY)
    assert _codes(cheapest.products) == ["3", "1", "4", "5"], "lanterns only, cheapest first"
    dearest = rank(nearest, Search("lanterns", order="descending"), act="more", vocabulary=VOCABULARY)
    assert _codes(dearest.products) == ["5", "4", "1", "3"]


def test_a_present_is_no_card_or_wrapping_and_the_favourites_without_a_kind() -> None:
    wrap = _p("w", "Birthday Banquet Gift Wrap", 0.42, "Cards & Wrapping", 900)
    card = _p("c", "Robot Birthday Card", 0.42, "Cards & Wrapping", 800)
    holder = _p("h", "Card Holder Gingham Heart", 2.5, "Home Decor", 10)
    stand = _p("s", "Regency Cakestand 3 Tier", 12.75, "Kitchen & Dining", 1000)
    present = Search("", present=True, max_price=10)
    assert [p.stock_code for p in (wrap, card, holder, stand) if meets(p, present)] == ["h"]
    assert not meets(card, Search("", present=True)) and meets(card, Search("birthday cards"))
    # One of what the present is for stays: a robot birthday card for a brother who collects robots.
    assert meets(card, Search("robots", present=True)) and not meets(wrap, Search("robots", present=True))
    assert _codes(by_popularity([holder, wrap, stand])) == ["s", "w", "h"]
