"""What the actions need at run time: the shop's tables, its orders and a fitted recommender."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from actions.orders.demo import DemoOrders
from actions.orders.source import OrderSource
from actions.recommender import Recommender, normalise_customer_id, normalise_stock_code
from actions.recommender_store import load_or_fit
from core.shop import Customer, Order, Product, load_customers, load_orders, load_products

_ORDER_NOISE = re.compile(r"[^0-9A-Z]")


def normalise_order_id(value: object) -> str:
    """``"#573415"`` / ``" 573415 "`` → ``"573415"``."""
    return _ORDER_NOISE.sub("", str(value).upper())


@dataclass(frozen=True)
class ShopServices:
    """The recommender plus products, orders and customers keyed by their ids, and the source
    the order-status action asks (``order_source``: the shop's system, or these demo orders)."""

    recommender: Recommender
    products: Mapping[str, Product]
    orders: Mapping[str, Order]
    customers: Mapping[str, Customer]
    order_source: OrderSource

    @classmethod
    def load(cls, shop_dir: Path, transactions_csv: Path,
             recommender_dir: Path | None = None,
             order_source: OrderSource | None = None) -> ShopServices:
        """Read the shop tables in ``shop_dir`` and fit the recommender on ``transactions_csv``.

        With ``recommender_dir`` the fit is kept there and loaded on the next start while the
        transactions, catalogue and code are unchanged. Orders are asked of ``order_source``
        (``actions.orders.choose``), or without one read from the demo tables. Raises
        ``NotReady`` when the shop tables have not been prepared.
        """
        products = {normalise_stock_code(p.stock_code): p for p in load_products(shop_dir)}
        orders = {normalise_order_id(k): v for k, v in load_orders(shop_dir).items()}
        customers = {
            cid: c for c in load_customers(shop_dir).values()
            if (cid := normalise_customer_id(c.customer_id))
        }
        recommender = load_or_fit(transactions_csv, products.keys(), recommender_dir)
        return cls(recommender, products, orders, customers, order_source or DemoOrders(orders))

    def product(self, stock_code: str) -> Product | None:
        """The catalogue entry for a stock code, if any."""
        return self.products.get(normalise_stock_code(stock_code))

    def order(self, order_id: str) -> Order | None:
        """The order with this number in the demo tables, if any (the action asks
        ``order_source``)."""
        return self.orders.get(normalise_order_id(order_id))
