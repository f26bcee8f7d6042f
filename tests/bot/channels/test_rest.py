"""The REST channel end to end on the real app: every route, the turn log and bad input."""

from __future__ import annotations

import json
import weakref
from typing import Any

from aiohttp.test_utils import TestClient

from bot.channels.binding import TOKEN_HEADER
from bot.serving.turnlog import SINK
from core.shop import load_orders
from core.turns import Flag, TurnRecord
from tests.identity import token

URL = "/webhooks/rest/webhook"


# Each client's conversation tokens by sender, sent back as a REST client that keeps them does.
_TOKENS: weakref.WeakKeyDictionary[TestClient, dict[str, str]] = weakref.WeakKeyDictionary()


async def say(client: TestClient, text: str, sender: str = "s1", **metadata: Any) -> tuple[list[dict], str]:
    tokens = _TOKENS.setdefault(client, {})
    headers = {TOKEN_HEADER: tokens[sender]} if sender in tokens else {}
    body = {"sender": sender, "message": text, "metadata": metadata}
    resp = await client.post(URL, json=body, headers=headers)
    assert resp.status == 200, await resp.text()
    tokens[sender] = resp.headers[TOKEN_HEADER]
    return await resp.json(), resp.headers["X-Shopbot-Turn-Id"]


async def logged(client: TestClient, turn_id: str) -> TurnRecord:
    sink = client.app[SINK]
    await sink.flush()
    records = await sink.run_sync(lambda: list(sink.turn_log.records()))
    return next(r for r in records if r.turn_id == turn_id)


def products_of(messages: list[dict]) -> list[dict]:
    return [p for m in messages if m.get("custom") for p in m["custom"]["products"]]


async def test_status_and_health(client: TestClient) -> None:
    assert await (await client.get("/webhooks/rest/")).json() == {"status": "ok"}
    health = await (await client.get("/health")).json()
    assert health["status"] == "ok"
    assert set(health["versions"]) == {"encoder", "index", "router", "generator"}


async def test_delivery_question_gets_the_faq_answer(client: TestClient) -> None:
    messages, turn_id = await say(client, "how long does delivery take?")
    assert messages[0]["recipient_id"] == "s1"
    record = await logged(client, turn_id)
    assert record.route == "faq"
    assert record.metadata["label"] == "uk_delivery"
    assert "working days" in messages[0]["text"]
    assert {"embed", "search", "total"} <= record.latency_ms.keys()
    assert record.versions["encoder"] and record.versions["index"]


async def test_product_question_gets_cards(client: TestClient) -> None:
    messages, turn_id = await say(client, "do you sell cookie jars?")
    cards = products_of(messages)
    assert cards and all({"stock_code", "name", "price"} <= c.keys() for c in cards)
    assert any("cookie jar" in c["name"].lower() for c in cards)
    assert (await logged(client, turn_id)).route == "products"


async def test_price_filter(client: TestClient) -> None:
    messages, _ = await say(client, "gifts under £5")
    cards = products_of(messages)
    assert cards and all(c["price"] <= 5 for c in cards)


async def test_recommendations_with_and_without_a_customer(client: TestClient) -> None:
    anon, turn_id = await say(client, "recommend something", sender="anon")
    assert (await logged(client, turn_id)).route == "recommend"
    known, _ = await say(client, "recommend something", sender="known", customer_id="17841",
                         customer_token=token("17841"))
    assert products_of(anon) and products_of(known)
    assert [c["stock_code"] for c in products_of(anon)] != [c["stock_code"] for c in products_of(known)]


async def test_similar_to_the_last_product(client: TestClient) -> None:
    first, _ = await say(client, "do you sell cookie jars?", sender="sim")
    shown = products_of(first)[0]["stock_code"]
    messages, turn_id = await say(client, "something like that one?", sender="sim")
    record = await logged(client, turn_id)
    # Read in context: the catalogue searched for things like the product in focus, itself left out.
    assert record.route == "products" and record.metadata["context_act"] == "similar"
    assert record.metadata["refers_to"] == [shown]
    codes = [c["stock_code"] for c in products_of(messages)]
    assert codes and shown not in codes
    assert all("jar" in c["name"].lower() for c in products_of(messages)[:3]), "jars like the jar first"


async def test_order_status_and_follow_up(client: TestClient, shop_settings) -> None:  # type: ignore[no-untyped-def]
    order = next(o for o in load_orders(shop_settings.shop_dir).values()
                 if o.status != "cancelled" and o.customer_id)
    assert order.customer_id is not None
    signed_in = {"customer_id": order.customer_id, "customer_token": token(order.customer_id)}
    messages, turn_id = await say(client, f"where is my order {order.order_id}", sender="o", **signed_in)
    assert order.order_id in messages[0]["text"] and order.status in messages[0]["text"].lower()
    assert (await logged(client, turn_id)).route == "order_status"
    follow_up, turn_id = await say(client, "where is it now?", sender="o", **signed_in)
    assert order.order_id in follow_up[0]["text"]
    assert (await logged(client, turn_id)).route == "order_status"


async def test_open_product_question_is_generated(client: TestClient) -> None:
    messages, turn_id = await say(client, "is the glass cookie jar good for storing biscuits?")
    record = await logged(client, turn_id)
    assert record.route == "generate"
    assert messages[0]["text"]
    assert "generated" in record.to_json()["flags"] or "generation_failed" in record.to_json()["flags"]
    assert record.metadata["evidence"], "the generator is grounded on retrieved passages"


async def test_weather_is_declined(client: TestClient) -> None:
    messages, turn_id = await say(client, "what's the weather in Paris")
    record = await logged(client, turn_id)
    assert record.route == "decline" and "declined" in record.to_json()["flags"]
    assert messages[0]["buttons"]


async def test_handoff_is_acknowledged(client: TestClient) -> None:
    messages, turn_id = await say(client, "I want to talk to a person")
    record = await logged(client, turn_id)
    assert record.route == "handoff" and "handoff_requested" in record.to_json()["flags"]
    assert "team" in messages[0]["text"]


async def test_personal_data_is_redacted_in_the_log(client: TestClient) -> None:
    _, turn_id = await say(client, "my email is jane@example.com, do you ship to France?")
    record = await logged(client, turn_id)
    assert "jane@example.com" not in json.dumps(record.to_json())
    assert "pii_redacted" in record.to_json()["flags"]


async def test_feedback_is_stored_with_its_turn(client: TestClient) -> None:
    _, turn_id = await say(client, "do you do gift wrapping?", sender="fb")
    resp = await client.post("/feedback", json={"conversation_id": "fb", "turn_id": turn_id, "value": "down"})
    assert resp.status == 200 and await resp.json() == {"ok": True}
    assert "negative_feedback" in (await logged(client, turn_id)).to_json()["flags"]
    resp = await client.post(
        "/feedback", json={"conversation_id": "other", "turn_id": turn_id, "value": "up"}
    )
    assert resp.status == 404
    resp = await client.post("/feedback", json={"conversation_id": "fb", "turn_id": turn_id, "value": "meh"})
    assert resp.status == 400


async def test_a_search_with_nothing_in_range_is_logged_as_declined(client: TestClient) -> None:
    messages, turn_id = await say(client, "gifts under £0.01")
    record = await logged(client, turn_id)
    assert record.route == "products" and not products_of(messages)
    assert Flag.DECLINED in record.flags, "the shopper was told nothing matched: a decline"
