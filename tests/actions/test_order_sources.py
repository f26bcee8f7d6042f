"""Live orders from the shop's own system (docs/orders.md), through a real HTTP server."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from actions.orders.breaker import CircuitBreaker
from actions.orders.choose import live_order_source
from actions.orders.demo import DemoOrders
from actions.orders.http_json import HttpJsonOrders
from actions.orders.sql import SqlOrders
from actions.runner import DOMAIN, ActionOutcome, InProcessActionRunner, tracker_state
from actions.services import ShopServices
from actions.shop_actions import ActionOrderStatus, reports_unavailable
from core.errors import NotReady, Unavailable
from core.settings import Settings
from tests.actions.shop_system import ShopSystem, order_body

SECRET = b"orders-secret-shared-with-the-shop"
OWNER = {"customer_id": "12345"}
HONEST = ("I can't reach our order system right now, so I can't check order 700001. Please try "
          "again in a few minutes, or I can ask a person from our team.")


@pytest.fixture
async def shop() -> AsyncIterator[ShopSystem]:
    system = ShopSystem(SECRET)
    system.orders["700001"] = order_body("700001", "packed")
    await system.start()
    yield system
    await system.stop()


@pytest.fixture
async def source(shop: ShopSystem) -> AsyncIterator[HttpJsonOrders]:
    orders = HttpJsonOrders(shop.base_url, SECRET, timeout_s=0.5, backoff_s=0.01,
                            breaker=CircuitBreaker(failures=5, open_s=0.2))
    yield orders
    await orders.close()


def runner_for(services: ShopServices, source: HttpJsonOrders) -> InProcessActionRunner:
    return InProcessActionRunner(dataclasses.replace(services, order_source=source))


async def ask(runner: InProcessActionRunner, number: str, metadata: dict[str, Any] | None = None,
              entities: list[dict[str, Any]] | None = None) -> ActionOutcome:
    given = [{"entity": "order_number", "value": number}, *(entities or [])]
    tracker = tracker_state("web-1", {"order_number": None}, "where is my order", "order_status",
                            given, metadata or {})
    return await runner.run("action_order_status", tracker, DOMAIN)


def text_of(outcome: ActionOutcome) -> str:
    return outcome.messages[0].text or ""


def assert_honest(outcome: ActionOutcome) -> None:
    (message,) = outcome.messages
    assert message.text == HONEST
    assert [(b.title, b.payload) for b in message.buttons] == [("Talk to a person", "/handoff")]
    assert reports_unavailable(message.custom)
    assert {e["name"]: e["value"] for e in outcome.events} == {"order_number": "700001"}


async def test_the_order_is_read_from_the_shops_system(source: HttpJsonOrders) -> None:
    order = await source.order("700001")
    assert order is not None
    assert (order.order_id, order.customer_id, order.status) == ("700001", "12345", "packed")
    assert order.date.startswith("2026-11-30") and order.expected_delivery == "2026-12-03"
    assert (order.email, order.postcode, order.country) == ("jane@example.com", "SW1A 1AA",
                                                            "United Kingdom")
    assert [(line.stock_code, line.quantity) for line in order.lines] == [("10001", 2), ("10006", 1)]
    assert order.total == 7.95
    assert await source.order("799999") is None


async def test_the_action_answers_live_and_sees_a_status_change(
        shop: ShopSystem, source: HttpJsonOrders, services: ShopServices) -> None:
    runner = runner_for(services, source)
    first = text_of(await ask(runner, "#700001", OWNER))
    assert first == ("Order 700001, placed on 2026-11-30, is packed. Expected delivery: 2026-12-03. "
                     "It has 3 items, total £7.95.")
    shop.orders["700001"] = order_body("700001", "out for delivery")
    assert "is out for delivery" in text_of(await ask(runner, "700001", OWNER))
    assert shop.requests == 2, "asked at each question, nothing kept in between"


async def test_not_found_reads_as_an_unknown_number(
        shop: ShopSystem, source: HttpJsonOrders, services: ShopServices) -> None:
    runner = runner_for(services, source)
    missing = text_of(await ask(runner, "799999", OWNER))
    demo_unknown = text_of(await ask(InProcessActionRunner(services), "799999", OWNER))
    assert missing == demo_unknown == ("I can't find an order 799999 on your account. Please check "
                                       "the number in your confirmation email.")


async def test_the_ownership_check_applies_to_live_orders(
        source: HttpJsonOrders, services: ShopServices) -> None:
    runner = runner_for(services, source)
    other = text_of(await ask(runner, "700001", {"customer_id": "11111"}))
    assert other == ("I can't find an order 700001 on your account. Please check the number in "
                     "your confirmation email.")
    anonymous = text_of(await ask(runner, "700001"))
    assert "sign in, or tell me the email address or postcode" in anonymous and "packed" not in anonymous
    wrong = await ask(runner, "700001", entities=[{"entity": "postcode", "value": "EC1A 1BB"}])
    assert "couldn't confirm order 700001" in text_of(wrong)
    right = await ask(runner, "700001", entities=[{"entity": "email", "value": "Jane@Example.com"}])
    assert "is packed" in text_of(right)


async def test_a_stopped_system_gets_the_honest_reply(
        shop: ShopSystem, source: HttpJsonOrders, services: ShopServices) -> None:
    await shop.stop()
    assert_honest(await ask(runner_for(services, source), "700001", OWNER))


async def test_errors_are_retried_then_answered_honestly(
        shop: ShopSystem, source: HttpJsonOrders, services: ShopServices) -> None:
    shop.mode = "error"
    assert_honest(await ask(runner_for(services, source), "700001", OWNER))
    assert shop.requests == 3, "one try and two retries"


async def test_a_slow_system_times_out(shop: ShopSystem, services: ShopServices) -> None:
    shop.mode, shop.delay_s = "slow", 2.0
    source = HttpJsonOrders(shop.base_url, SECRET, timeout_s=0.2, retries=1, backoff_s=0.01)
    try:
        start = time.perf_counter()
        assert_honest(await ask(runner_for(services, source), "700001", OWNER))
        assert time.perf_counter() - start < 1.0, "two tries of 0.2 s, not the server's 2 s"
        assert shop.requests == 2
    finally:
        await source.close()


async def test_the_breaker_opens_after_five_failures_and_recovers(
        shop: ShopSystem, source: HttpJsonOrders, services: ShopServices) -> None:
    runner = runner_for(services, source)
    shop.mode = "error"
    for _ in range(5):
        assert_honest(await ask(runner, "700001", OWNER))
    reached = shop.requests
    assert reached == 15
    start = time.perf_counter()
    assert_honest(await ask(runner, "700001", OWNER))
    with pytest.raises(Unavailable):
        await source.order("700001")
    assert time.perf_counter() - start < 0.5, "an open breaker answers at once"
    # The proof that it did not wait: nothing was asked of the system.
    assert shop.requests == reached, "no request reached the system while the breaker was open"

    shop.mode = "ok"
    await asyncio.sleep(0.25)  # the open period (0.2 s) passes: one trial call goes through
    assert "is packed" in text_of(await ask(runner, "700001", OWNER))
    assert shop.requests == reached + 1
    assert not source.breaker.is_open


async def test_a_wrong_secret_is_refused(shop: ShopSystem) -> None:
    source = HttpJsonOrders(shop.base_url, b"not-the-shared-secret", backoff_s=0.01)
    try:
        with pytest.raises(Unavailable):
            await source.order("700001")
    finally:
        await source.close()
    assert (shop.requests, shop.refused) == (1, 1), "a refusal is not retried"


async def test_a_malformed_body_is_unavailable_and_not_logged(
        shop: ShopSystem, source: HttpJsonOrders, caplog: pytest.LogCaptureFixture) -> None:
    shop.mode = "malformed"
    with caplog.at_level(logging.INFO), pytest.raises(Unavailable):
        await source.order("700001")
    assert "malformed order" in caplog.text and "lines" in caplog.text
    assert "leak@example.com" not in caplog.text and "shipped" not in caplog.text


async def test_another_order_in_the_answer_is_refused(
        shop: ShopSystem, source: HttpJsonOrders) -> None:
    shop.orders["700002"] = order_body("700001", "packed")
    with pytest.raises(Unavailable):
        await source.order("700002")


def test_a_half_open_breaker_lets_one_trial_through() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures=2, open_s=10.0, clock=lambda: now[0])
    breaker.failed()
    assert breaker.retry_after() == 0.0 and not breaker.is_open
    breaker.failed()
    assert breaker.retry_after() == 10.0 and breaker.is_open
    now[0] = 10.5
    assert breaker.retry_after() == 0.0, "the trial"
    assert breaker.retry_after() > 0, "only one trial at a time"
    breaker.failed()
    assert breaker.retry_after() == pytest.approx(10.0), "a failed trial opens it again"
    now[0] = 21.0
    assert breaker.retry_after() == 0.0
    breaker.succeeded()
    assert breaker.retry_after() == 0.0 and not breaker.is_open


def test_settings_choose_the_orders_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Settings().orders_source == "demo"
    monkeypatch.setenv("SHOPBOT_ORDERS_SOURCE", "http-json:https://shop.example/api/shopbot")
    monkeypatch.setenv("SHOPBOT_ORDERS_SECRET", SECRET.decode())
    settings = Settings()
    assert settings.orders_source == "http-json:https://shop.example/api/shopbot"
    assert SECRET.decode() not in repr(settings) and SECRET.decode() not in str(settings.model_dump())
    source = live_order_source(settings.orders_source, settings.secret(settings.orders_secret_env),
                               settings.orders_secret_env, shop_dir=tmp_path)
    assert isinstance(source, HttpJsonOrders)
    assert source.base_url == "https://shop.example/api/shopbot" and SECRET.decode() not in repr(source)
    # The demo's orders are a database read by the SQL connector a shop's own database would use.
    (tmp_path / "orders.json").write_text("[]", encoding="utf-8")
    assert isinstance(live_order_source("demo", None, "SHOPBOT_ORDERS_SECRET", shop_dir=tmp_path), SqlOrders)
    sql = Settings(orders_source="sql:postgresql://shopbot@db.example/shop", orders_query="SELECT 1")
    assert sql.orders_source.startswith("sql:")


def test_the_sql_source_needs_its_query(tmp_path: Path) -> None:
    with pytest.raises(NotReady, match="SHOPBOT_ORDERS_QUERY"):
        live_order_source("sql:sqlite:///orders.db", None, "SHOPBOT_ORDERS_SECRET", shop_dir=tmp_path)


@pytest.mark.parametrize("spec", ["shopify:store", "http-json:ftp://shop.example", "http-json:",
                                  "http-json:https://user:pw@shop.example", "demox",
                                  "sql:postgresql://shopbot:pw@db/shop", "sql:not a url", "oscar:ftp://x"])
def test_settings_refuse_unknown_sources(spec: str) -> None:
    with pytest.raises(ValueError, match="orders source|http-json|credentials|password|URL"):
        Settings(orders_source=spec)


def test_http_json_without_a_secret_stops_the_start() -> None:
    with pytest.raises(NotReady, match="SHOPBOT_SHOP_ORDERS_KEY"):
        live_order_source("http-json:https://shop.example", None, "SHOPBOT_SHOP_ORDERS_KEY",
                          shop_dir=Path("."))


async def test_the_demo_source_reads_the_tables(services: ShopServices) -> None:
    assert isinstance(services.order_source, DemoOrders)
    assert await services.order_source.order("500009") == services.orders["500009"]
    assert await services.order_source.order("999999") is None


async def test_the_standalone_action_server_builds_the_source_from_settings(
        monkeypatch: pytest.MonkeyPatch, shop_settings: Settings, shop: ShopSystem) -> None:
    monkeypatch.setenv("SHOPBOT_VAR_DIR", str(shop_settings.var_dir))
    monkeypatch.setenv("SHOPBOT_TRANSACTIONS_CSV", str(shop_settings.transactions_csv))
    monkeypatch.setenv("SHOPBOT_ORDERS_SOURCE", f"http-json:{shop.base_url}")
    monkeypatch.setenv("SHOPBOT_ORDERS_SECRET", SECRET.decode())
    action = ActionOrderStatus()
    source = action.services().order_source
    assert isinstance(source, HttpJsonOrders)
    try:
        order = await source.order("700001")
        assert order is not None and order.status == "packed"
    finally:
        await source.close()
