"""Typed tables of the demo shop (products, customers, orders) and their JSON loaders.

The tables are built by ``shopbot prepare`` (see ``retrieval.prepare``) from the UCI Online
Retail transactions into ``var/shop/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import NotReady


@dataclass(frozen=True)
class Product:
    """One catalogue item (one per StockCode)."""

    stock_code: str
    name: str
    price: float
    category: str
    popularity: int = 0

    def passage(self) -> str:
        """Text used for embedding and for grounding generated answers."""
        return f"{self.name}. {self.category}. Price £{self.price:.2f}. Stock code {self.stock_code}."

    def card(self) -> dict[str, Any]:
        """Product card payload for the widget."""
        return {
            "stock_code": self.stock_code,
            "name": self.name,
            "price": self.price,
            "category": self.category,
        }


@dataclass(frozen=True)
class OrderLine:
    """One line of an order."""

    stock_code: str
    name: str
    quantity: int
    price: float


@dataclass(frozen=True)
class Order:
    """An order (invoice) with its demo status."""

    order_id: str
    customer_id: str | None
    date: str
    country: str
    status: str
    expected_delivery: str
    lines: tuple[OrderLine, ...]
    # What the order was placed with (demo data): an anonymous shopper proves it is theirs with one.
    email: str = ""
    postcode: str = ""

    @property
    def total(self) -> float:
        """Order value in GBP."""
        return round(sum(line.quantity * line.price for line in self.lines), 2)


@dataclass(frozen=True)
class Customer:
    """A known customer and the stock codes they bought."""

    customer_id: str
    country: str
    order_ids: tuple[str, ...]


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise NotReady(f"{path.name} is missing: run `shopbot prepare`")
    data: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return data


def load_products(shop_dir: Path) -> list[Product]:
    """Read ``products.json``."""
    return [Product(**row) for row in _read(shop_dir / "products.json")]


def load_orders(shop_dir: Path) -> dict[str, Order]:
    """Read ``orders.json`` keyed by order id."""
    orders = {}
    for row in _read(shop_dir / "orders.json"):
        lines = tuple(OrderLine(**line) for line in row.pop("lines"))
        orders[row["order_id"]] = Order(lines=lines, **row)
    return orders


def load_customers(shop_dir: Path) -> dict[str, Customer]:
    """Read ``customers.json`` keyed by customer id."""
    return {
        row["customer_id"]: Customer(row["customer_id"], row["country"], tuple(row["order_ids"]))
        for row in _read(shop_dir / "customers.json")
    }
