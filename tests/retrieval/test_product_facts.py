"""Product facts from transactions, and the sentences that carry them."""

from __future__ import annotations

from dataclasses import dataclass

from core.shop import Product
from retrieval.product_facts import build_facts, words_in


@dataclass(frozen=True)
class S:
    invoice: str
    code: str
    quantity: int
    price: float
    country: str


NAMES = {"A": "Pack of 12 Red Glass Jars", "B": "Jam Funnel", "C": "Wooden Spoon", "D": "Tea Towel"}
SALES = [
    S("1", "A", 12, 1.25, "United Kingdom"), S("1", "B", 1, 0.85, "United Kingdom"),
    S("2", "A", 24, 1.10, "France"), S("2", "B", 2, 0.85, "France"),
    S("3", "A", 12, 1.25, "United Kingdom"), S("3", "C", 1, 2.10, "United Kingdom"),
    S("4", "D", 6, 2.95, "Germany"),
]


def test_facts_come_from_the_transactions() -> None:
    facts = build_facts(SALES, NAMES, {"A": "Kitchen"})
    a = facts["A"]
    assert (a["price_min"], a["price_max"]) == (1.10, 1.25)
    assert a["pack_size"] == 12 and a["usual_quantities"][0] == 12
    assert a["orders"] == 3 and a["top_percent"] == 25
    assert a["countries"] == ["United Kingdom", "France"]
    # Bought with B on two invoices; C only once, which is not "often".
    assert a["bought_with"] == ["Jam Funnel"]
    assert a["colours"] == ["red"] and a["materials"] == ["glass"]
    assert facts["D"]["bought_with"] == [] and facts["D"]["pack_size"] is None


def test_sentences_say_only_what_the_facts_hold() -> None:
    facts = build_facts(SALES, NAMES, {"D": "Kitchen"})
    towel = Product("D", "Tea Towel", 2.95, "Kitchen", facts=facts["D"]).fact_sentences()
    assert set(towel) == {"price", "pack", "popularity", "shipping", "category"}
    assert towel["price"] == "The Tea Towel costs £2.95."
    jars = Product("A", NAMES["A"], 1.25, "Kitchen", facts=facts["A"])
    assert jars.fact_sentences()["price"] == ("The Pack of 12 Red Glass Jars costs £1.25 "
                                              "(it has sold for £1.10 to £1.25).")
    evidence = jars.evidence()
    assert evidence.startswith(jars.passage())
    assert "We have sent it to United Kingdom and France." in evidence
    assert "often bought with the Jam Funnel" in evidence
    # A shop without facts still has a passage and a price answer.
    bare = Product("Z", "Mug", 3.0, "Kitchen")
    assert bare.evidence() == bare.passage() + " It costs £3.00."


def test_vocabulary_words_are_whole_words() -> None:
    assert words_in("Redwood Coaster", ("red", "wood")) == []
    assert words_in("Red Wood Coaster", ("red", "wood")) == ["red", "wood"]
