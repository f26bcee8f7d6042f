"""Stock and variant questions answered from a Merchant Center feed's facts, through the real
app's REST channel, on a small catalogue read from tests/fixtures/feeds/stock_variants.xml."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from core.settings import REPO_ROOT, Settings
from core.turns import Route
from retrieval.catalogue.merchant_feed import read_feed, to_products
from tests.bot.engine.test_conversations import cards, logged, say, text_of
from tests.identity import IDENTITY_ENV

FEED = REPO_ROOT / "tests" / "fixtures" / "feeds" / "stock_variants.xml"


@pytest.fixture(scope="session")
def feed_var(built_var: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``built_var`` with its catalogue replaced by the feed's (models shared, indexes its own)."""
    var = tmp_path_factory.mktemp("feed-var")
    for child in built_var.iterdir():
        if child.name not in ("shop", "index", "turns.sqlite3", "journal"):
            (var / child.name).symlink_to(child.resolve())
    (var / "shop").mkdir()
    (var / "index").mkdir()
    for name in ("orders.json", "customers.json"):
        (var / "shop" / name).symlink_to((built_var / "shop" / name).resolve())
    for routing in (built_var / "index").glob("routing*"):
        (var / "index" / routing.name).write_bytes(routing.read_bytes())
    rows = [asdict(p) for p in to_products(read_feed(FEED))]
    for row in rows:
        if row["stock_code"] == "BEANIE-GRY":
            row["facts"]["stock_quantity"] = 3  # as a shop platform that counts stock gives it
    (var / "shop" / "products.json").write_text(json.dumps(rows), encoding="utf-8")
    return var


@pytest.fixture
async def feed_client(aiohttp_client, feed_var: Path, tmp_path: Path) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    from bot.server import create_app

    settings = Settings(var_dir=feed_var, database_url=f"sqlite:///{tmp_path / 'turns.sqlite3'}",
                        web_dir=REPO_ROOT / "web", journal_dir=tmp_path / "journal",
                        identity_secret_env=IDENTITY_ENV)
    yield await aiohttp_client(create_app(settings))


def codes(messages: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return [c["stock_code"] for c in cards(messages)]


async def test_variants_of_the_product_in_focus(feed_client: TestClient) -> None:
    shown, _ = await say(feed_client, "hood", "do you have hoodies?")
    assert codes(shown)[0].startswith("HOOD-")  # the first card is in focus
    red, turn_id = await say(feed_client, "hood", "does it come in red?")
    assert codes(red) == ["HOOD-RED-M"] and "Yes, it comes in red" in text_of(red)
    record = await logged(feed_client, turn_id)
    assert record.route == Route.GENERATE and record.metadata["context_act"] == "variant"
    # The red one is in focus now.
    price, _ = await say(feed_client, "hood", "how much is it?")
    assert "£42.00" in text_of(price) and "Dark Red" in text_of(price)
    sizes, _ = await say(feed_client, "hood", "which sizes?")
    assert "sizes M and L" in text_of(sizes) and "L is out of stock" in text_of(sizes)
    large, _ = await say(feed_client, "hood", "do you have it in large?")
    assert codes(large) == ["HOOD-NAVY-L"] and "12 March 2027" in text_of(large)
    back, _ = await say(feed_client, "hood", "when will it be back?")
    assert text_of(back).strip() == \
        "The Trail Hoodie, Navy, L is out of stock; it is expected back on 12 March 2027."
    pink, _ = await say(feed_client, "hood", "does it come in pink?")
    assert "doesn't come in pink" in text_of(pink) and "navy, dark red and forest green" in text_of(pink)
    colours, _ = await say(feed_client, "hood", "what colours does it come in?")
    assert "forest green one is available to pre-order only" in text_of(colours)


async def test_navy_is_a_blue(feed_client: TestClient) -> None:
    await say(feed_client, "navy", "is the Trail Hoodie, Dark Red, M in stock?")
    blue, _ = await say(feed_client, "navy", "does it come in blue?")
    assert "Yes, it comes in blue" in text_of(blue) and codes(blue)[0].startswith("HOOD-NAVY")


async def test_stock_of_a_named_product_and_its_other_colour(feed_client: TestClient) -> None:
    few, turn_id = await say(feed_client, "hat", "do you have the merino wool beanie in stock?")
    assert text_of(few).strip() == "Only 3 left of the Merino Wool Beanie."
    assert (await logged(feed_client, turn_id)).route == Route.GENERATE
    black, _ = await say(feed_client, "hat", "and the black one?")
    assert text_of(black).strip() == "The Merino Wool Beanie is out of stock."
    assert codes(black) == ["BEANIE-BLK"]


async def test_prices_and_stock_in_the_products_currency(feed_client: TestClient) -> None:
    lamp, _ = await say(feed_client, "lamp", "is the brass desk lamp in stock?")
    assert "on backorder" in text_of(lamp) and "1 April 2027" in text_of(lamp)
    price, _ = await say(feed_client, "lamp", "how much is it?")
    assert "€89.00" in text_of(price) and "£" not in text_of(price)
    assert cards(price)[0]["currency"] == "EUR"
    mug, _ = await say(feed_client, "mug", "is the enamel camping mug in stock?")
    assert text_of(mug).strip() == "Yes, the Enamel Camping Mug is in stock."
    cost, _ = await say(feed_client, "mug", "how much is it?")
    assert "$12.50" in text_of(cost) and "£" not in text_of(cost)


async def test_a_stock_question_without_a_product_asks_which(feed_client: TestClient) -> None:
    which, turn_id = await say(feed_client, "which", "is it in stock?")
    record = await logged(feed_client, turn_id)
    # Which product is asked; a router that reads it as the shop's restocking question may give
    # that FAQ answer instead. Never an order number.
    assert "order number" not in text_of(which) and record.route != Route.ORDER_STATUS
    assert "Which product" in text_of(which) or "restocked" in text_of(which)
    order, turn_id = await say(feed_client, "which", "where is my order?")
    assert (await logged(feed_client, turn_id)).route == Route.ORDER_STATUS


async def test_the_demo_shop_says_it_cannot_see_stock(client: TestClient) -> None:
    await say(client, "demo", "do you have doormats?")
    honest, turn_id = await say(client, "demo", "is it in stock?")
    assert "can't see stock levels" in text_of(honest) and "order number" not in text_of(honest)
    assert (await logged(client, turn_id)).route == Route.GENERATE
