"""Shoppers' data kept to its owner: order details and personal picks only for whom they belong to.

A hostile but fair outside tester: anonymous order-number guessing, forged customer ids, a
signed customer asking for someone else's order, and the rate limits on lookups.
"""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from bot.engine.identity import sign_jwt
from core.settings import Settings
from core.shop import Order, load_orders
from tests.bot.channels.test_rest import logged, products_of, say
from tests.identity import SECRET, token


def _orders(settings: Settings) -> list[Order]:
    return [o for o in load_orders(settings.shop_dir).values() if o.status != "cancelled" and o.customer_id]


def _blank(text: str, *numbers: str) -> str:
    for number in numbers:
        text = text.replace(number, "#")
    return text


async def test_an_anonymous_shopper_learns_nothing_from_an_order_number(
    client: TestClient, shop_settings: Settings
) -> None:
    order = _orders(shop_settings)[0]
    missing = "999998"
    assert missing not in load_orders(shop_settings.shop_dir)
    real, _ = await say(client, f"where is my order {order.order_id}", sender="anon-1")
    fake, _ = await say(client, f"where is my order {missing}", sender="anon-2")
    assert _blank(real[0]["text"], order.order_id) == _blank(fake[0]["text"], missing), "no hint it exists"
    for field in (order.status, order.expected_delivery, order.date[:10], f"{order.total:.2f}"):
        assert field not in real[0]["text"]
    assert "sign in" in real[0]["text"] and "postcode" in real[0]["text"]


async def test_the_order_postcode_or_email_unlocks_it_and_nothing_else_does(
    client: TestClient, shop_settings: Settings
) -> None:
    order = _orders(shop_settings)[0]
    other = next(o for o in _orders(shop_settings) if o.postcode != order.postcode)
    await say(client, f"where is my order {order.order_id}", sender="proof")
    wrong, _ = await say(client, f"it's {other.postcode}", sender="proof")
    assert order.status not in wrong[0]["text"].lower() and "couldn't confirm" in wrong[0]["text"]
    right, turn_id = await say(client, f"the postcode is {order.postcode.lower()}", sender="proof")
    assert order.order_id in right[0]["text"] and order.status in right[0]["text"].lower()
    record = await logged(client, turn_id)
    assert order.postcode.lower() not in record.user_text.lower() and "[POSTCODE]" in record.user_text
    again, _ = await say(client, "where is it now?", sender="proof")
    assert order.status in again[0]["text"].lower(), "proved once per conversation"

    local, domain = order.email.split("@")
    spoken = f"{local} at {domain.replace('.', ' dot ')}"
    await say(client, f"track order {order.order_id}", sender="proof-email")
    by_email, turn_id = await say(client, spoken, sender="proof-email")
    assert order.status in by_email[0]["text"].lower()
    assert "[EMAIL]" in (await logged(client, turn_id)).user_text

    missing = "999997"
    await say(client, f"where is my order {missing}", sender="proof-missing")
    nothing, _ = await say(client, f"my postcode is {order.postcode}", sender="proof-missing")
    assert _blank(nothing[0]["text"], missing) == _blank(wrong[0]["text"], order.order_id)


async def test_a_forged_customer_id_gets_no_personal_data(
    client: TestClient, shop_settings: Settings
) -> None:
    order = _orders(shop_settings)[0]
    assert order.customer_id is not None
    anonymous, _ = await say(client, "recommend something", sender="nobody")
    for forged in ({"customer_id": order.customer_id},
                   {"customer_id": order.customer_id, "customer_token": "0" * 64},
                   {"customer_id": order.customer_id, "customer_token": token("someone-else")}):
        picks, turn_id = await say(client, "recommend something", sender="forger", **forged)
        assert products_of(picks) == products_of(anonymous), "a forged id gets the anonymous picks"
        status, _ = await say(client, f"where is my order {order.order_id}", sender="forger", **forged)
        assert order.status not in status[0]["text"].lower()
        record = await logged(client, turn_id)
        assert record.metadata.get("customer") == "unverified"
        assert "customer_token" not in str(record.metadata) and order.customer_id not in str(record.metadata)


async def test_a_signed_customer_sees_their_orders_and_only_theirs(
    client: TestClient, shop_settings: Settings
) -> None:
    mine = _orders(shop_settings)[0]
    theirs = next(o for o in _orders(shop_settings) if o.customer_id != mine.customer_id)
    assert mine.customer_id is not None
    signed = {"customer_id": mine.customer_id, "customer_token": token(mine.customer_id)}
    own, _ = await say(client, f"where is my order {mine.order_id}", sender="me", **signed)
    assert mine.status in own[0]["text"].lower()
    other, _ = await say(client, f"where is my order {theirs.order_id}", sender="me", **signed)
    missing, _ = await say(client, "where is my order 999996", sender="me", **signed)
    assert _blank(other[0]["text"], theirs.order_id) == _blank(missing[0]["text"], "999996")
    assert theirs.status not in other[0]["text"].lower()
    picks, _ = await say(client, "recommend something", sender="me", **signed)
    assert picks[0]["text"].startswith("Picked for you")

    jwt = {"customer_token": sign_jwt(SECRET, mine.customer_id)}
    by_jwt, _ = await say(client, f"where is my order {mine.order_id}", sender="me-jwt", **jwt)
    assert mine.status in by_jwt[0]["text"].lower()
    expired = {"customer_token": sign_jwt(SECRET, mine.customer_id, ttl_s=-10)}
    stale, _ = await say(client, f"where is my order {mine.order_id}", sender="me-old", **expired)
    assert mine.status not in stale[0]["text"].lower()


async def test_order_lookups_are_rate_limited_per_conversation_and_per_address(
    client: TestClient, shop_settings: Settings
) -> None:
    limit = shop_settings.order_lookups_per_conversation
    answers: list[str] = []
    for n in range(limit + 1):
        said, _ = await say(client, f"where is my order {600000 + n}", sender="guesser")
        answers.append(said[0]["text"])
    assert all("postcode" in a for a in answers[:limit])
    assert "several orders" in answers[-1] and not re.search(r"\b600\d{3}\b", answers[-1])

    # New conversations from the same address run into the per-address limit in the end.
    refused = 0
    for n in range(shop_settings.order_lookups_per_ip):
        said, _ = await say(client, f"where is my order {610000 + n}", sender=f"hopper-{n}")
        refused += "several orders" in said[0]["text"]
    assert refused >= 1


