"""A shop's catalogue, synced from its feed, changes what the running bot answers: no restart, no
retraining, the catalogue's version on each turn; refused feeds change nothing served."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.auth.guard import Role
from bot.cli import main
from bot.serving.knowledge import KNOWLEDGE
from bot.serving.models import UNDERSTANDING
from bot.serving.turnlog import SINK
from bot.web.keys import ENGINE
from monitoring.turnlog.log import TurnLog
from tests.bot.catalogue.shop import ITEMS, feed_settings, feed_var, write_feed
from tests.signin import sign_in

pytestmark = pytest.mark.timeout(300)

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0"><channel><item><g:id>X</g:id>
<g:title>&lol2;</g:title><g:price>1.00 GBP</g:price></item></channel></rss>
"""
CLOCK = "how much is the brass wall clock?"


def with_item(item_id: str, **changes: str) -> list[Any]:
    return [{**item, **changes} if item["id"] == item_id else item for item in ITEMS]


async def ask(client: TestClient, sender: str, text: str) -> list[dict[str, Any]]:
    resp = await client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
    assert resp.status == 200, await resp.text()
    messages: list[dict[str, Any]] = await resp.json()
    return messages


def text_of(messages: list[dict[str, Any]]) -> str:
    return " ".join(m.get("text", "") for m in messages)


def codes_of(messages: list[dict[str, Any]]) -> list[str]:
    return [p["stock_code"] for m in messages for p in (m.get("custom") or {}).get("products", [])]


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float) -> float:
    """Seconds until ``check()`` holds (the test fails after ``timeout_s``)."""
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < timeout_s, f"not within {timeout_s} s"
        await asyncio.sleep(0.5)
    return time.monotonic() - start


async def index_versions(client: TestClient) -> list[str]:
    """The catalogue version each logged turn was answered from, oldest first."""
    await client.app[SINK].flush()
    return [r.versions["index"] for r in TurnLog(client.app[ENGINE]).records()]


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    return write_feed(tmp_path / "feed.xml", ITEMS)


@pytest.fixture
def var(built_var: Path, tmp_path: Path, feed: Path) -> Path:
    return feed_var(built_var, tmp_path / "var", feed)


async def start(aiohttp_client: Any, var: Path, feed: Path, tmp_path: Path, **settings: Any) -> TestClient:
    from bot.server import create_app

    client: TestClient = await aiohttp_client(create_app(feed_settings(var, feed, tmp_path, **settings)))
    return client


async def test_a_repriced_product_is_answered_at_its_new_price_on_the_schedule(
    aiohttp_client: Any, var: Path, feed: Path, tmp_path: Path
) -> None:
    client = await start(aiohttp_client, var, feed, tmp_path, catalogue_sync_every_s=1.0)
    router = client.app[UNDERSTANDING].understanding.version
    before = client.app[KNOWLEDGE].version
    assert "£58.00" in text_of(await ask(client, "a", CLOCK))

    write_feed(feed, with_item("CLOCK-1", price="49.00 GBP"))

    async def new_price() -> bool:
        return "£49.00" in text_of(await ask(client, "a", CLOCK))

    assert await until(new_price, 60) < 60
    after = client.app[KNOWLEDGE].version
    assert after != before
    # The router was not retrained or swapped; each turn records the catalogue it was answered from.
    assert client.app[UNDERSTANDING].understanding.version == router
    versions = await index_versions(client)
    assert versions[0] == before and versions[-1] == after


async def test_added_and_removed_products_after_the_sync_command(
    aiohttp_client: Any, var: Path, feed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # No schedule: only `shopbot catalogue sync` changes the catalogue; the running bot follows it.
    client = await start(aiohttp_client, var, feed, tmp_path, catalogue_sync_every_s=0)
    assert "VASE-1" in codes_of(await ask(client, "b", "do you have a glass vase?"))

    teapot = {"id": "POT-1", "title": "Cast Iron Teapot", "price": "39.00 GBP", "availability": "in_stock",
              "product_type": "Kitchen > Teapots"}
    write_feed(feed, [*[i for i in ITEMS if i["id"] != "VASE-1"], teapot])
    monkeypatch.setenv("SHOPBOT_VAR_DIR", str(var))
    monkeypatch.setenv("SHOPBOT_CATALOGUE_SOURCE", f"merchant-feed:{feed}")
    assert main(["catalogue", "sync"]) == 0
    out = capsys.readouterr().out
    assert "+1 added" in out and "1 removed" in out and "1 re-encoded" in out

    async def swapped() -> bool:
        return "POT-1" in client.app[KNOWLEDGE].product_by_code

    await until(swapped, 30)
    assert "POT-1" in codes_of(await ask(client, "c", "do you sell teapots?"))
    assert "VASE-1" not in codes_of(await ask(client, "d", "do you have a glass vase?"))


async def test_hostile_feeds_are_refused_and_the_catalogue_served_stays(
    aiohttp_client: Any, var: Path, feed: Path, tmp_path: Path
) -> None:
    client = await start(aiohttp_client, var, feed, tmp_path, catalogue_sync_every_s=0)
    admin = await sign_in(client, client.app, "ops", Role.ADMIN)
    before = client.app[KNOWLEDGE].version

    feed.write_text(BILLION_LAUGHS, encoding="utf-8")
    resp = await client.post("/api/catalogue/sync", headers=admin)
    assert resp.status == 400
    assert "entit" in (await resp.json())["error"]["message"].lower()

    feed.write_text("<rss><channel><item><g:id>1</item></channel>", encoding="utf-8")
    resp = await client.post("/api/catalogue/sync", headers=admin)
    assert resp.status == 400
    assert "line 1" in (await resp.json())["error"]["message"]

    # A feed cut short (one item left of eight) would empty the shop: refused unless forced.
    write_feed(feed, ITEMS[:1])
    resp = await client.post("/api/catalogue/sync", headers=admin)
    assert resp.status == 400
    assert "would remove 7 of the 8" in (await resp.json())["error"]["message"]

    # Items without an id are skipped and named; the rest sync.
    write_feed(feed, [*ITEMS, {"title": "No Id Lamp", "price": "5.00 GBP"}])
    resp = await client.post("/api/catalogue/sync", headers=admin)
    assert resp.status == 200
    body = await resp.json()
    assert body["products"] == len(ITEMS) and any("item 9" in s and "id" in s for s in body["skipped"])

    assert client.app[KNOWLEDGE].version == before
    assert "£58.00" in text_of(await ask(client, "e", CLOCK))
    status = await (await client.get("/api/catalogue", headers=admin)).json()
    assert status["serving"]["products"] == len(ITEMS) and status["last_error"] is None
    assert (await client.get("/api/catalogue")).status == 401


async def test_the_source_unreachable_keeps_the_catalogue_and_says_why(
    aiohttp_client: Any, var: Path, tmp_path: Path
) -> None:
    gone = tmp_path / "moved.xml"
    client = await start(aiohttp_client, var, gone, tmp_path, catalogue_sync_every_s=0)
    admin = await sign_in(client, client.app, "ops", Role.ADMIN)
    resp = await client.post("/api/catalogue/sync", headers=admin)
    assert resp.status == 400 and "no feed at" in (await resp.json())["error"]["message"]
    status = await (await client.get("/api/catalogue", headers=admin)).json()
    assert "no feed at" in status["last_error"] and status["serving"]["products"] == len(ITEMS)
    assert "£58.00" in text_of(await ask(client, "f", CLOCK))


async def test_the_demo_has_no_source_to_sync_on_demand(client: TestClient) -> None:
    admin = await sign_in(client, client.app, "ops", Role.ADMIN)
    resp = await client.post("/api/catalogue/sync", headers=admin)
    assert resp.status == 409 and "SHOPBOT_CATALOGUE_SOURCE" in (await resp.json())["error"]["message"]
    status = await (await client.get("/api/catalogue", headers=admin)).json()
    assert status["source"] is None
    assert status["serving"]["products"] == len(client.app[KNOWLEDGE].product_by_code)
