"""Issue 29: what the testers found in clear, with the real NER model; product names survive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitoring.names import NameFinder, ProductWords
from monitoring.ner import SpacyTagger
from monitoring.redact import Redactor, redact

FIXTURE = Path(__file__).parents[1] / "fixtures/pii/messages.jsonl"

# (what a shopper typed, what must not be kept of it) - the outside testers' inputs.
ISSUE_29 = [
    ("card 4111  1111  1111  1111 thanks", "1111"),
    ("card 4111_1111_1111_1111 thanks", "1111"),
    ("call me on 555-2671", "2671"),
    ("send it to 10 Rue de Rivoli, Paris", "Rivoli"),
    ("I live at Rose Cottage, Church Lane", "Cottage"),
    ("I live at Rose Cottage, Church Lane", "Church"),
    ("I was born in 1985", "1985"),
    ("my name is Sarah Jones", "Sarah"),
    ("my name is Sarah Jones", "Jones"),
    ("I'm Tom, where is my order?", "Tom"),
    ("name: priya patel", "priya"),
    ("hi i'm jamie and I want a refund", "jamie"),
    ("It's Mohammed here, any news?", "Mohammed"),
    ("Name: Anna Kowalski", "Kowalski"),
]

KEPT = [
    "Dolly Girl lunch box",
    "do you have the Dolly Girl lunch box in stock?",
    "Rose Cottage Keepsake Box in stock?",
    "have you got the Landmark Frame Baker Street?",
    "I'm looking for a lunch box",
    "do you stock Orla Kiely?",
    "Do you sell Emma Bridgewater mugs?",
    "where is my order 573415? it cost £12.50",
    "I ordered on 12/03/2011",
]


# Product names as the demo shop's catalogue has them (var/shop/products.json); the app builds
# the same vocabulary from the live catalogue (bot/serving/turnlog.py).
CATALOGUE = ["Dolly Girl Lunch Box", "TV Dinner Tray Dolly Girl", "Rose Cottage Keepsake Box",
             "Landmark Frame Baker Street", "Landmark Frame Oxford Street", "Wrap English Rose",
             "Spaceboy Lunch Box", "Lunch Box I Love London"]


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    tagger = SpacyTagger()
    tagger.warm_up()
    return Redactor(names=NameFinder(tagger, ProductWords.of(CATALOGUE)))


@pytest.mark.slow
@pytest.mark.parametrize(("text", "secret"), ISSUE_29)
def test_the_issue_inputs_are_redacted(redactor: Redactor, text: str, secret: str) -> None:
    out = redactor.text(text)
    assert secret.lower() not in out.lower(), out
    assert "[" in out


@pytest.mark.slow
@pytest.mark.parametrize("text", KEPT)
def test_product_names_brands_and_order_details_survive(redactor: Redactor, text: str) -> None:
    assert redactor.text(text) == text


@pytest.mark.parametrize(("text", "secret"), [
    ("card 4111  1111  1111  1111", "4111"), ("card 4111_1111_1111_1111", "4111"),
    ("card 4111 - 1111 - 1111 - 1111", "4111"), ("call 555-2671", "2671"), ("ring 867 5309", "5309"),
    ("phone number 5552671", "5552671"), ("born in 1985", "1985"), ("born March 1990", "1990"),
    ("10 Rue de Rivoli", "Rivoli"), ("Hauptstraße 12", "Haupt"), ("Rose Cottage, Church Lane", "Church"),
    ("my name is Sarah", "Sarah"), ("name: Priya", "Priya"), ("kev.o'neill@btinternet.com", "neill"),
])
def test_regex_rules_without_the_model(text: str, secret: str) -> None:
    # The rules that need no model hold on their own (the module-level redact has no NER).
    assert secret not in redact(text).text


@pytest.mark.parametrize("text", [
    "it cost £555.26 in total", "order 573415", "the 2024-2025 catalogue", "I'm looking for a mug",
    "call me back please", "my name is on the order", "ordered 3 on 12/03/2011",
])
def test_regex_rules_leave_ordinary_shop_chat(text: str) -> None:
    assert redact(text).text == text


def test_the_labelled_set_is_large_split_and_covers_every_kind() -> None:
    rows = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 300
    assert {r["split"] for r in rows} == {"dev", "test"}
    kinds = {kind for r in rows for _, _, kind in r["spans"]}
    assert {"EMAIL", "PHONE", "CARD", "IBAN", "POSTCODE", "ADDRESS", "DOB", "NAME"} <= kinds
    for row in rows:
        for start, end, _ in row["spans"]:
            assert 0 <= start < end <= len(row["text"])
    assert sum(1 for r in rows if not r["spans"] and r["keep"]) >= 50, "product chat with nothing personal"


@pytest.mark.slow
def test_the_test_half_meets_the_bar(redactor: Redactor) -> None:
    # Recall of every labelled span and no damage to the shop's own words, on the held-out half.
    rows = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
    test = [r for r in rows if r["split"] == "test"]
    labelled = [(r, s) for r in test for s in r["spans"]]
    missed = [r["text"][a:b] for r, (a, b, _) in labelled if r["text"][a:b] in redactor.text(r["text"])]
    assert len(missed) / len(labelled) <= 0.05, missed
    keeps = [(r, k) for r in test for k in r["keep"]]
    damaged = [r["text"][a:b] for r, (a, b) in keeps if r["text"][a:b] not in redactor.text(r["text"])]
    assert len(damaged) / len(keeps) <= 0.08, damaged
