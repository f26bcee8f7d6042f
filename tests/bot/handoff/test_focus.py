"""The staff API shows how a conversation was read: each turn's standalone reading, and the
products in focus from the conversation's dialogue state when staff take it over."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from bot.auth.guard import Role
from bot.engine.interfaces import Slots
from bot.serving.engine import MEMORY
from bot.serving.knowledge import KNOWLEDGE
from bot.serving.turnlog import SINK
from bot.staff.api import focus
from core.shop import Product
from tests.bot.handoff.conftest import Login
from tests.bot.handoff.test_handoff_rest import queue, say


def cards(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for m in messages if m.get("custom") for p in m["custom"].get("products", [])]


def listed(card: dict[str, Any]) -> dict[str, Any]:
    """A product card as the focus lists it."""
    return {"stock_code": card["stock_code"], "name": card["name"], "price": card["price"]}


async def test_staff_see_the_reading_and_the_products_in_focus(client: TestClient, login: Login) -> None:
    staff = await login("sam", Role.STAFF)
    await say(client, "bags", "do you have mugs?")
    pink = cards(await say(client, "bags", "any in pink under £5?"))
    assert len(pink) >= 2, pink
    second = pink[1]
    price = await say(client, "bags", "how much is the second one?")
    assert f"£{second['price']:.2f}" in " ".join(m.get("text") or "" for m in price), price
    await say(client, "bags", "I want to talk to a person")
    (handoff,) = await queue(client, staff, "pending")
    assert handoff["conversation_id"] == "bags"

    await client.app[SINK].flush()
    resp = await client.get("/api/conversations/bags", headers=staff)
    assert resp.status == 200, await resp.text()
    transcript = await resp.json()
    readings = [
        (t["user_text"], t["resolved"], t["refers_to"], t["context_act"]) for t in transcript["turns"]
    ]
    assert readings[0] == ("do you have mugs?", None, [], None), "the first message stood alone"
    assert readings[1][1:] == ("pink mugs under £5.00", [], "refine")
    assert readings[2][1] is not None and second["name"] in readings[2][1]
    assert readings[2][2:] == ([second["stock_code"]], "ordinal")
    assert readings[3][1:] == (None, [], None)

    # The product asked about is in focus; the cards shown last are listed, as the catalogue has them.
    slots = await client.app[MEMORY].get("bags")
    assert slots.last_product == second["stock_code"] and slots.shown_products
    catalogue = client.app[KNOWLEDGE].product_by_code
    assert transcript["focus"] == {
        "product": listed(second),
        "shown": [listed(catalogue[code].card()) for code in slots.shown_products],
    }


async def test_a_new_conversation_has_nothing_in_focus(client: TestClient, login: Login) -> None:
    staff = await login("sam", Role.STAFF)
    await say(client, "policy", "can I speak to a real person?")
    transcript = await (await client.get("/api/conversations/policy", headers=staff)).json()
    assert transcript["focus"] == {"product": None, "shown": []}
    unknown = await (await client.get("/api/conversations/nobody-yet", headers=staff)).json()
    assert (unknown["turns"], unknown["focus"]) == ([], {"product": None, "shown": []})


def test_a_product_gone_from_the_catalogue_keeps_its_code() -> None:
    mug = Product("85123A", "Heart Mug", 2.55, "Kitchen")
    slots = Slots(last_product="GONE", shown_products=("85123A", "GONE"))
    assert focus(slots, {mug.stock_code: mug}) == {
        "product": {"stock_code": "GONE", "name": None, "price": None},
        "shown": [{"stock_code": "85123A", "name": "Heart Mug", "price": 2.55},
                  {"stock_code": "GONE", "name": None, "price": None}],
    }
