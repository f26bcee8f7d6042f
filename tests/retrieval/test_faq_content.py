"""The shop's FAQ and routing phrasings: coverage, separation and consistent facts."""

from __future__ import annotations

import re

import pytest

from core.settings import Settings
from retrieval.knowledge import KnowledgeEntry, load_knowledge
from retrieval.prepare import DELIVERY_WORKING_DAYS

REQUIRED_TOPICS = {
    "greeting", "thanks", "goodbye", "bot_capabilities", "contact", "opening_hours",
    "uk_delivery", "free_delivery", "international_shipping", "customs_duties", "returns",
    "refunds", "damaged_items", "payment_methods", "vat_invoice", "trade_account",
    "minimum_order", "bulk_discounts", "change_order", "cancel_order", "gift_wrap",
    "account_password", "gift_cards", "discount_codes", "out_of_stock", "product_care",
    "personalisation", "privacy", "cookies", "newsletter", "price_match",
}
INTENTS = {"product_search", "product_question", "recommend", "order_status", "handoff",
           "out_of_scope"}


@pytest.fixture(scope="module")
def faq() -> list[KnowledgeEntry]:
    return load_knowledge(Settings().faq_path)


@pytest.fixture(scope="module")
def intents() -> list[KnowledgeEntry]:
    return load_knowledge(Settings().intents_path)


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w£ ]", " ", text.casefold()).split())


def test_faq_has_many_well_phrased_topics(faq: list[KnowledgeEntry]) -> None:
    assert len(faq) >= 40
    thin = [e.id for e in faq if len(e.questions) < 5]
    assert not thin, f"topics with fewer than 5 phrasings: {thin}"
    assert all(e.answer and len(e.answer.split()) >= 8 for e in faq)


def test_required_topics_are_present(faq: list[KnowledgeEntry]) -> None:
    assert {e.id for e in faq} >= REQUIRED_TOPICS


def test_faq_ids_can_be_button_payloads(faq: list[KnowledgeEntry]) -> None:
    # Buttons send "/<id>", which bot.engine.nlu only reads for [a-z_]+ ids.
    assert all(re.fullmatch(r"[a-z_]+", e.id) for e in faq)


def test_order_tracking_is_left_to_the_action(faq: list[KnowledgeEntry]) -> None:
    assert not [e.id for e in faq if "status" in e.id or "track" in e.id]
    phrasings = [normalise(q) for e in faq for q in e.questions]
    assert not [q for q in phrasings if "where is my order" in q or "track my" in q]


def test_intents_file_has_the_routes(intents: list[KnowledgeEntry]) -> None:
    by_id = {e.id: e for e in intents}
    assert set(by_id) == INTENTS
    assert all(e.answer is None for e in intents)
    assert len(by_id["out_of_scope"].questions) >= 120
    assert all(len(e.questions) >= 30 for e in intents if e.id != "out_of_scope")


def test_no_phrasing_belongs_to_two_entries(
    faq: list[KnowledgeEntry], intents: list[KnowledgeEntry]
) -> None:
    owner: dict[str, str] = {}
    clashes = []
    for entry in faq + intents:
        for question in entry.questions:
            key = normalise(question)
            if owner.setdefault(key, entry.id) != entry.id:
                clashes.append((question, owner[key], entry.id))
    assert not clashes
    assert not {e.id for e in faq} & {e.id for e in intents}


def test_held_out_weather_question_is_not_in_the_data(
    faq: list[KnowledgeEntry], intents: list[KnowledgeEntry]
) -> None:
    # Kept out so that declining it shows generalisation, not memory.
    phrasings = {normalise(q) for e in faq + intents for q in e.questions}
    assert normalise("what's the weather in Paris") not in phrasings
    out_of_scope = next(e for e in intents if e.id == "out_of_scope")
    weather = re.compile(r"weather|rain|snow|temperature|sunny|storm|hot")
    assert sum(bool(weather.search(q)) for q in out_of_scope.questions) >= 8


def test_contact_details_are_consistent(faq: list[KnowledgeEntry]) -> None:
    answers = " ".join(e.answer or "" for e in faq)
    assert set(re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", answers)) == {
        "hello@shopbot-demo.example"}
    assert set(re.findall(r"\b0\d{3} \d{3} \d{4}\b", answers)) == {"0161 496 0123"}


def test_delivery_promises_match_the_demo_orders(faq: list[KnowledgeEntry]) -> None:
    answers = {e.id: e.answer or "" for e in faq}
    assert f"2-{DELIVERY_WORKING_DAYS['uk']} working days" in answers["uk_delivery"]
    assert f"3-{DELIVERY_WORKING_DAYS['europe']} working days" in answers[
        "international_shipping"]
    assert f"7-{DELIVERY_WORKING_DAYS['world']} working days" in answers[
        "international_shipping"]
    # Free UK delivery threshold and return window stated the same way everywhere.
    assert all("£50" in answers[i] for i in ("uk_delivery", "free_delivery"))
    assert all(re.search(r"\b30[ -]days?\b", answers[i]) for i in ("returns", "cancel_order"))
