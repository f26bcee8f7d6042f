import pytest

from monitoring.redact import redact


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
