"""The verifier of generated answers: every claim a draft makes must be a fact of its passages."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bot.generation.verifier import read_passage, verify
from core.settings import Settings
from core.shop import Product, load_products
from core.turns import Flag, Route
from monitoring.flags import FlagThresholds, TurnFacts, flags_of


def product(code: str, name: str, price: float, category: str, **facts: object) -> Product:
    return Product(code, name, price, category, facts={"price_min": price, "price_max": price, **facts})


# The passages behind the nonsense answers quoted in issue 26 (as var/ holds them).
CLOCKS = [
    product("85163A", "White Baroque Wall Clock", 12.75, "Home Decor", usual_quantities=[1], orders=2,
            countries=["United Kingdom"], colours=["white"]),
    product("23430", "Blue Retro Kitchen Wall Clock", 8.15, "Kitchen & Dining", usual_quantities=[1, 6],
            orders=2, countries=["United Kingdom"], colours=["blue"]),
    product("23317", "Blue Refectory Clock", 9.95, "Home Decor", price_max=19.96, usual_quantities=[2, 1, 6],
            orders=6, countries=["United Kingdom", "Switzerland", "France"],
            bought_with=["Mini Ladle Love Heart Red", "Parisienne Jewellery Drawer"], colours=["blue"]),
]
BLUES = [
    product("84673B", "Blue Fly Swat", 0.79, "Home Decor", price_min=0.65, price_max=1.63,
            usual_quantities=[4, 5, 1], orders=4, countries=["United Kingdom"], colours=["blue"],
            bought_with=["Beaded Pearl Heart White on Stick", "Pocket Mirror Woodland"]),
    product("22514", "Child's Garden Spade Blue", 2.10, "Garden", price_max=4.13, usual_quantities=[6, 1],
            orders=4, countries=["United Kingdom", "France"], colours=["blue"]),
    product("85131C", "Beaded Crystal Heart Blue on Stick", 0.83, "Home Decor", usual_quantities=[1, 2],
            orders=2, countries=["United Kingdom"], colours=["blue"]),
]
JARS = [
    product("22364", "Glass Jar Digestive Biscuits", 2.95, "Kitchen & Dining", price_max=5.79,
            usual_quantities=[1, 2], orders=11, countries=["United Kingdom"], materials=["glass"],
            bought_with=["Jam Making Set with Jars", "Treasure Tin Gymkhana Design",
                         "6 Egg House Painted Wood"]),
    product("23169", "Classic Glass Cookie Jar", 4.15, "Kitchen & Dining", price_max=8.29,
            usual_quantities=[6, 1, 3], orders=27, top_percent=11,
            countries=["United Kingdom", "EIRE", "France"],
            bought_with=["Mini Playing Cards Fun Fair", "Set of 12 Fairy Cake Baking Cases"],
            materials=["glass"]),
    product("22360", "Glass Jar English Confectionery", 2.95, "Kitchen & Dining", price_max=5.91,
            usual_quantities=[1, 6, 2], orders=21, top_percent=17, countries=["United Kingdom", "Spain"],
            materials=["glass"]),
]
JAR = JARS[1]


def evidence(products: list[Product]) -> list[str]:
    return [p.evidence() for p in products]


@pytest.mark.parametrize(("question", "draft", "products"), [
    ("how much is that first clock?", "The White is black.", CLOCKS),
    ("no, I meant blue",
     "The Blue is sold singly; shoppers usually buy 1, we have sent the Blue+ill and 4 orders.", BLUES),
    ("is the glass cookie jar good for biscuits?", "The Glass Design is made of 6 and costs £2.", JARS),
    # What the shop's GPT-2 writes for the first and the last today (data/eval/generated_answers.jsonl).
    ("how much is that first clock?", "The White Baroque Wall Clock costs £12.", CLOCKS),
    ("is the glass cookie jar good for biscuits?",
     "The Glass Sundae Biscuits Jam Jar , tracking Design is pink.95 (it has sold for £2.", JARS),
])
def test_the_issues_nonsense_answers_are_withheld(question: str, draft: str, products: list[Product]) -> None:
    verdict = verify(draft, evidence(products), question)
    assert not verdict.verified and verdict.unsupported
    assert verdict.grounding == 0.0
    facts = TurnFacts(route=Route.GENERATE, grounding_score=verdict.grounding)
    # The flag follows at any threshold an operator may set.
    for threshold in (0.01, 0.5, 1.0):
        assert Flag.UNGROUNDED in flags_of(facts, FlagThresholds(ungrounded=threshold))


@pytest.mark.parametrize("draft", [
    "The Classic Glass Cookie Jar costs £4.15.",
    "The Classic Glass Cookie Jar costs £4.15 (it has sold for £4.15 to £8.29).",
    "The Classic Glass Cookie Jar at £4.15.",
    "The classic glass cookie jar is made of glass and costs £4.15.",
    "The Classic Glass Cookie Jar is part of our Kitchen & Dining range and costs £4.15.",
    "The Classic Glass Cookie Jar was in 27 orders, one of the top 11% of our range.",
    "The Classic Glass Cookie Jar is sold singly; shoppers usually buy 6, 1 and 3 at a time.",
    "We have sent the Classic Glass Cookie Jar to United Kingdom, EIRE and France.",
    "The Classic Glass Cookie Jar is often bought with the Set of 12 Fairy Cake Baking Cases.",
    "The Classic Glass Cookie Jar costs £4.15. It is made of glass.",
    "The Glass Jar English Confectionery costs £2.95 and the Classic Glass Cookie Jar costs £4.15.",
])
def test_a_draft_whose_every_claim_is_a_fact_of_its_product_is_sent(draft: str) -> None:
    verdict = verify(draft, evidence(JARS), "is the glass cookie jar good for biscuits?")
    assert verdict.verified, verdict.unsupported
    assert verdict.grounding == 1.0
    assert JAR.evidence() in verdict.evidence
    assert Flag.UNGROUNDED not in flags_of(TurnFacts(route=Route.GENERATE, grounding_score=verdict.grounding),
                                           FlagThresholds())


@pytest.mark.parametrize(("draft", "claim"), [
    ("The Classic Glass Cookie Jar costs £4.", "£4"),  # a price cut short is a wrong price
    ("The Classic Glass Cookie Jar costs £2.95.", "£2.95"),  # another product's price
    ("The Classic Glass Cookie Jar was in 6 orders.", "6"),  # 6 is how many shoppers buy, not orders
    ("The Classic Glass Cookie Jar is made of 6.", "6"),
    ("The Classic Glass Cookie Jar is pink.", "pink"),
    ("The Classic Glass Cookie Jar is made of glass and ceramic.", "ceramic"),
    ("We have sent the Classic Glass Cookie Jar to Spain.", "spain"),  # the Confectionery's country
    ("The Classic Glass Cookie Jar is often bought with the Jam Making Set with Jars.",
     "jam making set with jars"),  # the Digestive Biscuits' companion
    ("The Glass Cookie Jar costs £4.15.", "no product of the passages named"),  # a cut name
    ("The Classic Glass Cookie Jar Biscuits costs £4.15.", "biscuits"),  # a name made longer
    ("The Classic Glass Cookie Jar makes a lovely gift at £4.15.", "makes"),
    ("Yes, the Classic Glass Cookie Jar costs £4.15.", "yes"),  # yes, good for biscuits?
    ("The Classic Glass Cookie Jar was in 6 at a time.", "6"),  # two facts run together
    ("The Classic Glass Cookie Jar.", "nothing said of the product"),
])
def test_any_claim_the_passages_do_not_state_withholds_the_draft(draft: str, claim: str) -> None:
    verdict = verify(draft, evidence(JARS), "is the glass cookie jar good for biscuits?")
    assert not verdict.verified
    assert claim in verdict.unsupported
    assert verdict.grounding == 0.0


def test_yes_answers_only_whether_the_shop_has_it() -> None:
    draft = "Yes, we sell the Classic Glass Cookie Jar for £4.15."
    assert verify(draft, evidence(JARS), "do you sell cookie jars?").verified
    assert not verify(draft, evidence(JARS), "is the cookie jar dishwasher safe?").verified


def _catalogue(built_var: Path) -> list[Product]:
    return load_products(Settings(var_dir=built_var).shop_dir)


def test_every_fact_of_the_catalogue_verifies_against_its_own_evidence(built_var: Path) -> None:
    products = _catalogue(built_var)
    assert len(products) > 1000
    for p in products:
        assert read_passage(p.evidence()).name == p.name
        for aspect, sentence in p.fact_sentences().items():
            verdict = verify(sentence, [p.evidence()])
            assert verdict.verified, (p.name, aspect, verdict.unsupported)


def test_a_fact_said_of_the_wrong_product_is_refused(built_var: Path) -> None:
    rng = random.Random(26)
    products = rng.sample([p for p in _catalogue(built_var) if p.facts.get("orders")], 300)
    refused = 0
    for a, b in zip(products[::2], products[1::2], strict=True):
        if f"£{a.price:.2f}" in b.evidence() or a.facts["orders"] == b.facts["orders"]:
            continue
        passages = [a.evidence(), b.evidence()]
        swapped = [a.fact_sentences()["price"].replace(a.name, b.name),
                   a.fact_sentences()["popularity"].replace(a.name, b.name)]
        for sentence in swapped:
            verdict = verify(sentence, passages)
            assert not verdict.verified, (sentence, a.name)
            refused += 1
    assert refused > 200
