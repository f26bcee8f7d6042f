"""Stock sentences, prices in a product's currency, and a product's variants (core/shop.py,
core/variants.py), on products as a Merchant Center feed gives them."""

from __future__ import annotations

from datetime import date

from core.shop import Product, fact_sentences, money
from core.variants import asked_colours, asked_size, group_of, variant_answer

TODAY = date(2026, 12, 1)


def hoodie(code: str, colour: str, size: str, availability: str, **facts: object) -> Product:
    return Product(code, f"Trail Hoodie, {colour}, {size}", 39.0, "Clothing",
                   facts={"item_group_id": "HOOD", "colours": [colour.lower()], "size": size,
                          "availability": availability, "currency": "GBP", **facts})


GROUP = [
    hoodie("NAVY-M", "Navy", "M", "in_stock"),
    hoodie("NAVY-L", "Navy", "L", "out_of_stock", availability_date="2027-03-12T09:00:00+00:00"),
    hoodie("RED-M", "Dark Red", "M", "in_stock"),
    hoodie("GREEN-M", "Forest Green", "M", "preorder", availability_date="2027-02-01"),
]


def stock(facts: dict[str, object]) -> str | None:
    return fact_sentences("the Lamp", 10.0, facts, today=TODAY).get("stock")


def test_stock_is_said_from_availability_and_quantity() -> None:
    assert stock({"availability": "in_stock"}) == "Yes, the Lamp is in stock."
    assert stock({"availability": "in_stock", "stock_quantity": 3}) == "Only 3 left of the Lamp."
    assert stock({"availability": "in_stock", "stock_quantity": 40}) == "Yes, the Lamp is in stock."
    assert stock({"stock_quantity": 0}) == "The Lamp is out of stock."
    assert stock({"availability": "out_of_stock", "availability_date": "2027-03-12T09:00:00+00:00"}) == \
        "The Lamp is out of stock; it is expected back on 12 March 2027."
    assert stock({"availability": "preorder", "availability_date": "2027-02-01"}) == \
        "The Lamp is available to pre-order; it is expected on 1 February 2027."
    assert "on backorder" in (stock({"availability": "backorder"}) or "")


def test_a_restock_date_gone_by_is_not_said() -> None:
    assert stock({"availability": "out_of_stock", "availability_date": "2026-01-05"}) == \
        "The Lamp is out of stock."


def test_no_stock_facts_no_stock_sentence() -> None:
    # The demo shop's products say nothing of stock: nothing is guessed.
    assert stock({"orders": 12, "colours": ["red"]}) is None


def test_prices_in_the_products_currency() -> None:
    assert money(4.5) == "£4.50" and money(4.5, "GBP") == "£4.50"
    assert money(12.5, "USD") == "$12.50" and money(89, "EUR") == "€89.00" and money(3, "CHF") == "3.00 CHF"
    mug = Product("MUG", "Enamel Camping Mug", 12.5, "Kitchen", facts={"currency": "USD"})
    assert mug.passage() == "Enamel Camping Mug. Kitchen. Price $12.50. Stock code MUG."
    assert mug.fact_sentences()["price"] == "The Enamel Camping Mug costs $12.50."
    assert "£" not in mug.evidence() and mug.card()["currency"] == "USD"
    ranged = fact_sentences("the Jug", 2.0, {"price_min": 1.5, "price_max": 3.0, "currency": "EUR"})
    assert ranged["price"] == "The Jug costs €2.00 (it has sold for €1.50 to €3.00)."


def test_the_demo_shops_text_is_unchanged() -> None:
    # No currency: GBP, written exactly as before (the product index hashes the passage).
    jar = Product("84029E", "Red Woolly Hottie White Heart", 3.75, "Home", facts={"price_min": 3.39,
                                                                                   "price_max": 4.25})
    assert jar.passage() == "Red Woolly Hottie White Heart. Home. Price £3.75. Stock code 84029E."
    assert jar.fact_sentences()["price"] == \
        "The Red Woolly Hottie White Heart costs £3.75 (it has sold for £3.39 to £4.25)."
    assert "currency" not in jar.card() and "stock" not in jar.fact_sentences()


def test_colours_match_words_and_the_small_synonym_table() -> None:
    assert asked_colours("does it come in blue?", GROUP) == ["blue"]
    assert asked_colours("any in dark red?", GROUP) == ["dark", "red"]
    text, chosen = variant_answer(GROUP[2], GROUP, "does it come in blue?")
    assert chosen is GROUP[0] and text == "Yes, it comes in blue: the Trail Hoodie, Navy, M, £39.00."
    text, chosen = variant_answer(GROUP[0], GROUP, "do you have it in red?")
    assert chosen is GROUP[2] and "Dark Red" in text
    text, chosen = variant_answer(GROUP[0], GROUP, "does it come in pink?")
    assert chosen is None and text.startswith("Sorry, the Trail Hoodie doesn't come in pink.")
    assert "navy, dark red and forest green" in text


def test_sizes_and_what_is_out_of_stock() -> None:
    assert asked_size("do you have it in large?", GROUP) == "l"
    assert asked_size("it's lovely", GROUP) is None  # the "s" of "it's" is no size
    text, chosen = variant_answer(GROUP[0], GROUP, "which sizes?")
    assert chosen is None and text == ("The Trail Hoodie comes in sizes M and L. "
                                       "L is out of stock at the moment.")
    text, chosen = variant_answer(GROUP[0], GROUP, "do you have it in large?")
    assert chosen is GROUP[1] and "out of stock" in text and "12 March 2027" in text
    text, _ = variant_answer(GROUP[0], GROUP, "what colours does it come in?")
    assert text == ("The Trail Hoodie comes in navy, dark red and forest green. "
                    "The forest green one is available to pre-order only at the moment.")
    text, chosen = variant_answer(GROUP[0], GROUP, "in xl?")
    assert chosen is None and "doesn't come in size XL" in text


def test_a_group_is_its_item_group_id() -> None:
    lone = Product("X", "Lone Mug", 3.0, "Kitchen")
    assert group_of(lone, GROUP) == [lone]
    assert [p.stock_code for p in group_of(GROUP[1], [lone, *GROUP])] == \
        ["NAVY-M", "NAVY-L", "RED-M", "GREEN-M"]
