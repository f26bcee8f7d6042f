"""A django-oscar shop's order history as sales rows, to fit the recommender on.

Read through the same admin API as the live orders (``actions.orders.oscar``): every order,
its lines, and the names of the products in them. A line's ``stock_code`` is the Oscar product
id, as ``retrieval.catalogue.oscar`` names products; a customer is their Oscar user id (a number
that means nothing outside the shop), never their email; a guest's orders have none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from datetime import UTC
from typing import Any

import aiohttp

from actions.orders.oscar import Gone, OscarApi, Retry, id_in, order_pk, placed_at
from actions.recommender import Sale
from core.errors import Unavailable

# Oscar's order pipeline is the shop's own; these are the statuses of orders that never sold.
NOT_SOLD = frozenset({"cancelled"})


def read_order_history(base_url: str, token: str, *, api_path: str = "/api/", timeout_s: float = 120.0,
                       concurrency: int = 8, not_sold: Collection[str] = NOT_SOLD) -> list[Sale]:
    """Every sales line of the shop's orders, oldest order first (blocking: call it off the event
    loop). Orders whose status (any case) is in ``not_sold`` and lines of products since deleted
    are left out. ``Unavailable`` when the shop cannot be read within ``timeout_s``."""
    api = OscarApi(base_url, token, api_path)
    skip = {status.lower() for status in not_sold}
    try:
        return asyncio.run(asyncio.wait_for(_history(api, concurrency, skip), timeout_s))
    except TimeoutError as err:
        raise Unavailable(f"the shop's order history was not read within {timeout_s:g} s") from err
    except (Retry, Gone) as err:
        raise Unavailable(f"the shop's order history could not be read ({err})") from err


async def _history(api: OscarApi, concurrency: int, skip: set[str]) -> list[Sale]:
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as session:
        orders = [row async for row in api.rows(session, "admin/orders/")
                  if str(row.get("status") or "").lower() not in skip]

        async def lines(order: Mapping[str, Any]) -> list[Mapping[str, Any]]:
            async with gate:
                return [line async for line in api.rows(session, f"admin/orders/{order_pk(order)}/lines/")]

        per_order = await asyncio.gather(*(lines(order) for order in orders))
        ids = {pid for rows in per_order for row in rows if (pid := id_in(row.get("product"), "products"))}
        names = await api.product_names(session, ids)
    sales = []
    for order, rows in sorted(zip(orders, per_order, strict=True),
                              key=lambda pair: placed_at(pair[0].get("date_placed"))):
        when = placed_at(order.get("date_placed")).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        customer = id_in(order.get("owner"), "users")
        for row in rows:
            pid = id_in(row.get("product"), "products")
            quantity = row.get("quantity")
            if pid is None or not isinstance(quantity, int) or quantity <= 0:
                continue
            sales.append(Sale(invoice=str(order.get("number")), stock_code=pid, customer_id=customer,
                              quantity=quantity, date=when, description=names.get(pid, "")))
    return sales

