"""Button payloads parsed as Rasa parses them."""

from __future__ import annotations

import pytest

from bot.rasa.payload import Payload, extract_with_payloads, parse_payload


@pytest.mark.parametrize(("text", "expected"), [
    ("/greet", Payload("greet")),
    ("  /mood_great  ", Payload("mood_great")),
    ("/chitchat/ask_name", Payload("chitchat/ask_name")),
    ('/inform{"city": "Berlin"}', Payload("inform", (("city", "Berlin"),))),
    ('/inform@0.7{"city": "Berlin", "n": 2}', Payload("inform", (("city", "Berlin"), ("n", 2)))),
    ('/inform{"city": ["Berlin", "Paris"]}', Payload("inform", (("city", "Berlin"), ("city", "Paris")))),
    ("/inform{not json}", Payload("inform")),
    ('/inform["a"]', Payload('inform["a"]')),  # no entity object: all of it names the intent
    ("hello /greet", None),
    ("/", None),
    ("what is your name?", None),
])
def test_payloads(text: str, expected: Payload | None) -> None:
    assert parse_payload(text) == expected


def test_entities_reach_actions_in_rasas_shape() -> None:
    payload = parse_payload('/order{"size": "large", "topping": ["ham", "olives"]}')
    assert payload is not None
    assert payload.as_rasa() == [{"entity": "size", "value": "large"}, {"entity": "topping", "value": "ham"},
                                 {"entity": "topping", "value": "olives"}]


def test_typed_text_still_gets_the_shops_entities() -> None:
    assert extract_with_payloads('/chitchat/ask_name{"x": 1}').payload_intent == "chitchat/ask_name"
    typed = extract_with_payloads("where is my order 573415")
    assert typed.payload_intent is None and typed.order_number == "573415"
