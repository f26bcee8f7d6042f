import pytest

from core.messages import BotMessage
from core.turns import Flag, Route
from monitoring.flags import TurnFacts
from monitoring.records import RecordFactory
from monitoring.redact import Redactor, public_details, redact


def test_email_phone_and_card_are_redacted() -> None:
    out = redact("mail jane.doe+shop@example.co.uk or call +44 20 7946 0958, card 4111 1111 1111 1111")
    assert out.changed
    assert "jane" not in out.text and "[EMAIL]" in out.text
    assert "7946" not in out.text and "[PHONE]" in out.text
    assert "4111" not in out.text and "[CARD]" in out.text


def test_order_numbers_and_prices_survive() -> None:
    text = "where is my order 573415? it cost £12.50 for 3 items"
    out = redact(text)
    assert out.text == text
    assert not out.changed


def test_digit_run_failing_luhn_is_not_a_card() -> None:
    assert "[CARD]" not in redact("ref 1234 5678 9012 3456").text


# The fast paths (no "@"-like hint, no digits, too few digits for a phone, texts already
# known clean) must never let through what the full matchers catch.
@pytest.mark.parametrize(("text", "placeholder"), [
    ("write to jane dot doe at gmail dot com please", "[EMAIL]"),
    ("jane.doe [at] example [dot] org", "[EMAIL]"),
    ("jane.doe＠example.com", "[EMAIL]"),
    ("jane.doe(at)example.com", "[EMAIL]"),
    ("call me on 07700 900123", "[PHONE]"),
    ("+44.20.7946.0958 after six", "[PHONE]"),
    ("my card is 4111.1111.1111.1111", "[CARD]"),
    ("GB82 WEST 1234 5698 7654 32 is my account", "[IBAN]"),
])
def test_fast_paths_still_catch_personal_data(text: str, placeholder: str) -> None:
    first = redact(text)
    assert placeholder in first.text and first.changed
    # A second time (the known-clean cache must never hold a text with personal data).
    assert redact(text).text == first.text


@pytest.mark.parametrize("text", [
    "how long does delivery take?",
    "do you have 12 cookie jars in stock for £5?",
    "order 573415 please",
    "what time do you open at the weekend",
])
def test_texts_without_personal_data_come_back_unchanged_every_time(text: str) -> None:
    for _ in range(3):
        out = redact(text)
        assert out.text == text and not out.changed


def test_the_known_clean_cache_keys_on_the_kept_details_too() -> None:
    text = "mail help@shop.example for help"
    assert "[EMAIL]" in redact(text).text
    kept = redact(text, frozenset({"help@shop.example"}))
    assert kept.text == text and not kept.changed
    assert "[EMAIL]" in redact(text).text


SHOP = "hello@shopbot-demo.example"


def test_the_redactor_keeps_the_shops_details_and_replaces_a_shoppers() -> None:
    redactor = Redactor(public_details([f"You can email us at {SHOP} or call 0161 496 0123."]))
    text = f"mail {SHOP} or 0161 496 0123, not jane@example.com or 07700 900123"
    assert redactor.text(text) == f"mail {SHOP} or 0161 496 0123, not [EMAIL] or [PHONE]"
    message = {"text": f"Write to {SHOP}", "buttons": [{"title": "jane@example.com", "payload": "/x"}],
               "jane@example.com": SHOP}
    assert redactor.json(message) == {
        "text": f"Write to {SHOP}", "buttons": [{"title": "[EMAIL]", "payload": "/x"}], "[EMAIL]": SHOP,
    }, "nested values and keys alike"
    everything = "mail [EMAIL] or [PHONE], not [EMAIL] or [PHONE]"
    assert Redactor().text(text) == everything, "nothing kept by default"


def test_the_record_factory_redacts_through_its_one_redactor() -> None:
    records = RecordFactory(public=frozenset({SHOP}))
    assert records.redactor == Redactor(frozenset({SHOP}))
    record = records.turn(conversation_id="c1", channel="rest", user_text="I am jane@example.com",
                          facts=TurnFacts(Route.FAQ, confidence=0.9),
                          messages=[BotMessage(text=f"Please email {SHOP}")])
    assert record.user_text == "I am [EMAIL]"
    assert record.response[0]["text"] == f"Please email {SHOP}", "the shop's own address is kept"
    assert Flag.PII_REDACTED in record.flags
    clean = records.turn(conversation_id="c1", channel="rest", user_text="how do I contact you?",
                         facts=TurnFacts(Route.FAQ, confidence=0.9),
                         messages=[BotMessage(text=f"Please email {SHOP}")])
    assert Flag.PII_REDACTED not in clean.flags, "keeping the shop's address is not redacting"
