"""Live orders through the real app: the REST channel, SHOPBOT_ORDERS_SOURCE at a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from core.settings import REPO_ROOT, Settings
from core.shop import load_orders
from tests.actions.shop_system import ShopSystem, order_body
from tests.bot.channels.test_rest import logged, say
from tests.identity import IDENTITY_ENV, token

SECRET = "orders-secret-for-the-app-test"


@pytest.fixture
async def shop() -> AsyncIterator[ShopSystem]:
    system = ShopSystem(SECRET.encode())
    await system.start()
    yield system
    await system.stop()


@pytest.fixture
async def live_client(aiohttp_client, built_var: Path, tmp_path: Path, shop: ShopSystem,  # type: ignore[no-untyped-def]
                      monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestClient]:
    """The real app on the built shop, its orders asked of ``shop`` (set as a shop would)."""
    from bot.server import create_app

    monkeypatch.setenv("SHOPBOT_ORDERS_SOURCE", f"http-json:{shop.base_url}")
    monkeypatch.setenv("SHOPBOT_ORDERS_SECRET", SECRET)
    settings = Settings(var_dir=built_var, database_url=f"sqlite:///{tmp_path / 'turns.sqlite3'}",
                        web_dir=REPO_ROOT / "web", journal_dir=tmp_path / "journal",
                        identity_secret_env=IDENTITY_ENV)
    yield await aiohttp_client(create_app(settings))


async def test_order_status_is_asked_of_the_shops_system(
        live_client: TestClient, shop: ShopSystem, built_var: Path) -> None:
    demo = next(o for o in load_orders(built_var / "shop").values() if o.customer_id)
    assert demo.customer_id is not None
    number = demo.order_id
    shop.orders[number] = order_body(number, "packed", customer_id=demo.customer_id)
    signed_in = {"customer_id": demo.customer_id, "customer_token": token(demo.customer_id)}

    messages, turn_id = await say(live_client, f"where is my order {number}", sender="live", **signed_in)
    assert f"Order {number}, placed on 2026-11-30, is packed." in messages[0]["text"]
    assert (await logged(live_client, turn_id)).route == "order_status"
    assert shop.requests == 1

    shop.orders[number] = order_body(number, "out for delivery", customer_id=demo.customer_id)
    messages, _ = await say(live_client, f"where is my order {number}", sender="live", **signed_in)
    assert "is out for delivery" in messages[0]["text"]

    await shop.stop()  # the platform stops mid-conversation
    messages, turn_id = await say(live_client, f"where is my order {number}", sender="live", **signed_in)
    assert messages[0]["text"].startswith(
        f"I can't reach our order system right now, so I can't check order {number}.")
    assert messages[0]["buttons"] == [{"title": "Talk to a person", "payload": "/handoff"}]
    assert "custom" not in messages[0], "the mark for the engine is not shown"
    record = await logged(live_client, turn_id)
    # Not answered: flagged, and counted towards handing the conversation to a person.
    assert record.route == "order_status" and "declined" in record.to_json()["flags"]

    await shop.start()  # and comes back: answered again, no restart
    messages, _ = await say(live_client, f"where is my order {number}", sender="live", **signed_in)
    assert "is out for delivery" in messages[0]["text"]
