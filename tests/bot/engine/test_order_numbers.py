"""Order numbers as shoppers give them: a bare reply to "what is your order number?", and a shop's
own number format (``SHOPBOT_ORDER_NUMBER_PATTERN``), through the real app and order action."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from core.settings import Settings
from core.turns import Route
from tests.bot.channels.test_rest import logged, say


async def test_a_bare_number_after_the_order_question_is_looked_up(client: TestClient) -> None:
    asked, _ = await say(client, "where is my order", sender="bare")
    assert "order number" in asked[0]["text"]
    reply, turn_id = await say(client, "12345", sender="bare")
    record = await logged(client, turn_id)
    assert record.route == Route.ORDER_STATUS
    # Not one of the demo shop's six-digit numbers: asked for proof all the same, so nothing is learnt.
    assert "order 12345" in reply[0]["text"] and "postcode" in reply[0]["text"]
    # Without the question before, a bare number is not taken for an order.
    _, turn_id = await say(client, "12345", sender="cold")
    assert (await logged(client, turn_id)).route != Route.ORDER_STATUS


async def test_another_order_after_one_was_looked_up_asks_for_its_number(client: TestClient) -> None:
    await say(client, "where is my order 573415", sender="two")
    asked, turn_id = await say(client, "what about my other order?", sender="two")
    record = await logged(client, turn_id)
    assert record.route == Route.ORDER_STATUS and record.metadata["context_act"] == "another_order"
    assert "order number" in asked[0]["text"] and "573415" not in asked[0]["text"]
    reply, _ = await say(client, "581234", sender="two")
    assert "order 581234" in reply[0]["text"], "the number given next is the other order"
    # With no order looked up before, the same words are the router's to place.
    _, turn_id = await say(client, "what about my other order?", sender="none")
    assert (await logged(client, turn_id)).metadata.get("context_act") is None


async def test_a_phone_number_given_as_the_order_number_is_not_kept(client: TestClient) -> None:
    await say(client, "where is my order", sender="phone")
    reply, turn_id = await say(client, "07700 900123", sender="phone")
    record = await logged(client, turn_id)
    assert "07700" not in reply[0]["text"] and "900123" not in record.user_text


async def test_a_shop_with_its_own_order_numbers(  # type: ignore[no-untyped-def]
    aiohttp_client, shop_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.server import create_app

    monkeypatch.setenv("SHOPBOT_TEST_ORDERS_RASA_TOKEN", "orders-test-token")
    settings = shop_settings.model_copy(update={"order_number_pattern": r"#?\d{4}",
                                                "rasa_api_token_env": "SHOPBOT_TEST_ORDERS_RASA_TOKEN"})
    client = await aiohttp_client(create_app(settings))
    reply, turn_id = await say(client, "where is order #1001?", sender="shop")
    assert (await logged(client, turn_id)).route == Route.ORDER_STATUS
    assert "order 1001" in reply[0]["text"]
    # Rasa's parse endpoint finds the same entity as the turn does.
    parsed = await (await client.post("/model/parse", params={"token": "orders-test-token"},
                                      json={"text": "has #1001 shipped?"})).json()
    assert [(e["entity"], e["value"]) for e in parsed["entities"]] == [("order_number", "#1001")]
