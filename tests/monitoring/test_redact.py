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
