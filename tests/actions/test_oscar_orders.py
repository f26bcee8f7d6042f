"""Live orders from a real django-oscar shop (harness/oscar_server.py), through its admin API."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator

import pytest

from actions.orders.breaker import CircuitBreaker
from actions.orders.oscar import OscarOrders
from actions.orders.source import OrderSource
from actions.runner import DOMAIN, InProcessActionRunner, tracker_state
from actions.services import ShopServices
from core.errors import Unavailable
from harness.oscar_server import OscarServer, Sample


def sample(shop: OscarServer) -> Sample:
    assert shop.sample is not None
    return shop.sample


@pytest.fixture
async def orders(oscar_shop: OscarServer) -> AsyncIterator[OscarOrders]:
    source = OscarOrders(oscar_shop.base_url, oscar_shop.reader_token, timeout_s=3.0, backoff_s=0.01,
                         breaker=CircuitBreaker(failures=2, open_s=0.5))
    yield source
    await source.close()


async def test_an_order_is_read_with_its_lines_and_owner(oscar_shop: OscarServer,
                                                        orders: OscarOrders) -> None:
    source: OrderSource = orders
    order = await source.order("100001")
    assert order is not None
    ids = sample(oscar_shop).products
    assert (order.order_id, order.status, order.country) == ("100001", "being processed", "United Kingdom")
    # The owner is the shop's user id, the same pseudonymous number the order history carries.
    assert order.customer_id == str(sample(oscar_shop).customers["alice"])
    assert (order.email, order.postcode) == ("alice@example.com", "SW1A 1AA")
    assert [(line.stock_code, line.name, line.quantity, line.price) for line in order.lines] == [
        (str(ids["mug"]), "Enamel Camping Mug", 2, 8.5), (str(ids["towel"]), "Linen Tea Towel", 1, 6.0)]
    assert order.total == 23.0
    assert order.date[:10] < time.strftime("%Y-%m-%d") and order.expected_delivery == "not known yet"


async def test_a_guest_order_has_no_customer_but_its_email_and_postcode(orders: OscarOrders) -> None:
    order = await orders.order("#100002")
    assert order is not None and order.order_id == "100002"
    assert (order.customer_id, order.email, order.postcode) == (None, "guest@example.com", "EH1 1YZ")
    assert (order.status, [line.name for line in order.lines]) == (
        "dispatched", ["Organic Cotton T-shirt (Navy, M)"])


async def test_an_order_on_a_later_page_is_found_and_an_unknown_one_is_none(orders: OscarOrders) -> None:
    # The list is newest first, four to a page: the oldest order is on the second page.
    oldest = await orders.order("100004")
    assert oldest is not None and oldest.status == "delivered" and len(oldest.lines) == 2
    assert await orders.order("999999") is None
    assert not orders.breaker.is_open


async def test_a_status_change_is_seen_at_the_next_ask(oscar_shop: OscarServer, orders: OscarOrders) -> None:
    before = await orders.order("100003")
    assert before is not None and before.status == "pending"
    oscar_shop.set_order_status("100003", "Being processed")
    after = await orders.order("100003")
    assert after is not None and after.status == "being processed"


async def test_the_action_answers_from_the_shop(oscar_shop: OscarServer, orders: OscarOrders,
                                                services: ShopServices) -> None:
    runner = InProcessActionRunner(dataclasses.replace(services, order_source=orders))
    owner = {"customer_id": str(sample(oscar_shop).customers["alice"])}
    tracker = tracker_state("web-1", {"order_number": None}, "where is my order", "order_status",
                            [{"entity": "order_number", "value": "100001"}], owner)
    outcome = await runner.run("action_order_status", tracker, DOMAIN)
    text = outcome.messages[0].text or ""
    assert "Order 100001" in text and "is being processed" in text and "£23.00" in text


async def test_a_stopped_shop_is_unavailable_the_breaker_opens_and_it_recovers(
        oscar_shop: OscarServer, orders: OscarOrders) -> None:
    assert await orders.order("100001") is not None
    oscar_shop.stop()
    try:
        for _ in range(2):
            with pytest.raises(Unavailable, match="did not answer") as caught:
                await orders.order("100001")
        assert caught.value.__cause__ is not None, "raised from the last connection error"
        assert orders.breaker.is_open
        start = time.perf_counter()
        with pytest.raises(Unavailable, match="not asked again yet") as refused:
            await orders.order("100001")
        assert time.perf_counter() - start < 0.05, "an open breaker answers at once"
        assert refused.value.retry_after == 1
    finally:
        oscar_shop.start()
    await asyncio.sleep(0.55)  # the open period passes: one trial call goes through
    order = await orders.order("100001")
    assert order is not None and order.status == "being processed"
    assert not orders.breaker.is_open


async def test_a_wrong_token_is_refused(oscar_shop: OscarServer) -> None:
    source = OscarOrders(oscar_shop.base_url, "not-the-token", backoff_s=0.01)
    try:
        with pytest.raises(Unavailable, match="HTTP 401"):
            await source.order("100001")
    finally:
        await source.close()
    assert "not-the-token" not in repr(source)


async def test_a_shop_without_the_admin_api_is_unavailable(oscar_shop: OscarServer) -> None:
    # OSCARAPI_BLOCK_ADMIN_API_ACCESS (its default) or a wrong API path: no order list at all.
    source = OscarOrders(oscar_shop.base_url, oscar_shop.reader_token, api_path="/no-api/", backoff_s=0.01)
    try:
        with pytest.raises(Unavailable, match="HTTP 404"):
            await source.order("100001")
    finally:
        await source.close()
