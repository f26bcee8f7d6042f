"""Typed tables of the demo shop (products, customers, orders) and their JSON loaders.

The tables are built by ``shopbot prepare`` (see ``retrieval.prepare``) from the UCI Online
Retail transactions into ``var/shop/``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
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
    # From the transactions (retrieval/product_facts.py): price range, pack size, orders,
    # countries, bought-with, colours, materials. Empty for a shop that has none.
    facts: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def passage(self) -> str:
        """Text embedded for product search: what the product is, not what it is bought with."""
        return (f"{self.name}. {self.category}. Price {money(self.price, self.facts.get('currency'))}. "
                f"Stock code {self.stock_code}.")

    def evidence(self) -> str:
        """The passage a generated answer is grounded on: the product and every known fact."""
        facts = fact_sentences("It", self.price, self.facts)
        facts.pop("category", None)
        return " ".join([self.passage(), *facts.values()])

    def fact_sentences(self) -> dict[str, str]:
        """One answer sentence per aspect the facts can answer (aspects without data left out)."""
        return fact_sentences(f"the {self.name}", self.price, self.facts)

    def card(self) -> dict[str, Any]:
        """Product card payload for the widget: with ``url`` (the product's page), ``image`` and
        ``availability`` and ``currency`` when the shop's catalogue gives them (a product feed does)."""
        card: dict[str, Any] = {
            "stock_code": self.stock_code,
            "name": self.name,
            "price": self.price,
            "category": self.category,
        }
        for key, fact in (("url", "link"), ("image", "image_link"), ("availability", "availability"),
                          ("currency", "currency")):
            if self.facts.get(fact):
                card[key] = str(self.facts[fact])
        return card


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
        raise NotReady(f"{path.name} is missing: run `shopbot setup` (or `make run`)")
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


def fact_sentences(name: str, price: float, facts: Mapping[str, Any], *,
                   today: date | None = None) -> dict[str, str]:
    """One sentence per aspect (price, stock, pack, popularity, shipping, bought_with, colour,
    material, category) that the facts can answer; prices in ``facts["currency"]`` (GBP when
    absent), a restock date only while it is after ``today``."""
    out: dict[str, str] = {}
    # ``name`` is "the Cookie Jar" in an answer, "It" in an evidence passage.
    the = "it" if name == "It" else name
    The = name[:1].upper() + name[1:]  # noqa: N806 - reads as the sentence does
    currency = facts.get("currency")
    low, high = facts.get("price_min"), facts.get("price_max")
    if low is not None and high is not None and high - low >= 0.01:
        out["price"] = (f"{The} costs {money(price, currency)} (it has sold for {money(low, currency)} "
                        f"to {money(high, currency)}).")
    else:
        out["price"] = f"{The} costs {money(price, currency)}."
    stock = stock_sentence(name, facts, today=today)
    if stock:
        out["stock"] = stock
    pack, usual = facts.get("pack_size"), facts.get("usual_quantities") or []
    if pack:
        out["pack"] = f"{The} comes as a set of {pack}."
    elif usual:
        out["pack"] = (f"{The} is sold singly; shoppers usually buy "
                       f"{_join([str(q) for q in usual])} at a time.")
    if facts.get("orders"):
        top = facts.get("top_percent")
        rank = f", one of the top {top}% of our range" if top is not None and top <= 25 else ""
        out["popularity"] = f"{The} was in {facts['orders']} orders{rank}."
    countries = facts.get("countries") or []
    if countries:
        shown = countries[:6]
        more = f" and {len(countries) - len(shown)} more countries" if len(countries) > len(shown) else ""
        out["shipping"] = f"We have sent {the} to {_join(shown)}{more}."
    if facts.get("bought_with"):
        out["bought_with"] = f"{The} is often bought with the {_join(facts['bought_with'])}."
    if facts.get("colours"):
        out["colour"] = f"{The} is {_join(facts['colours'])}."
    if facts.get("materials"):
        out["material"] = f"{The} is made of {_join(facts['materials'])}."
    if facts.get("category"):
        out["category"] = f"{The} is in our {facts['category']} range."
    return out


# Symbols written before the amount; any other currency is written after it by its ISO code.
_SYMBOLS = {"GBP": "£", "USD": "$", "EUR": "€"}
# At most this many left is worth saying ("Only 3 left").
FEW_LEFT = 5


def money(amount: float, currency: str | None = None) -> str:
    """``amount`` in ``currency`` (an ISO 4217 code; None: GBP, the demo shop's): "£4.50",
    "$4.50", "€4.50", "4.50 CHF"."""
    code = (currency or "GBP").upper()
    symbol = _SYMBOLS.get(code)
    return f"{symbol}{amount:.2f}" if symbol else f"{amount:.2f} {code}"


def in_stock(facts: Mapping[str, Any]) -> bool | None:
    """Whether a product can be bought now: None when its facts do not say (the demo shop)."""
    quantity, availability = facts.get("stock_quantity"), facts.get("availability")
    if availability in ("out_of_stock", "preorder", "backorder"):
        return False
    if isinstance(quantity, int | float):
        return quantity > 0
    return True if availability == "in_stock" else None


def stock_sentence(name: str, facts: Mapping[str, Any], *, today: date | None = None) -> str:
    """Whether ``name`` ("the X", or "It") is in stock, from ``availability`` and
    ``stock_quantity``; when it is not, when it is expected (a date in the past is stale and left
    out). Empty when the facts do not say: nothing is guessed."""
    the = "it" if name == "It" else name
    The = name[:1].upper() + name[1:]  # noqa: N806
    availability, quantity = facts.get("availability"), facts.get("stock_quantity")
    when = _future_date(facts.get("availability_date"), today)
    if availability == "preorder":
        return f"{The} is available to pre-order" + (f"; it is expected on {when}." if when else ".")
    if availability == "backorder":
        return (f"{The} is on backorder: you can order it now and it will be sent when it is back in stock"
                + (f", expected on {when}." if when else "."))
    if in_stock(facts) is False:
        return f"{The} is out of stock" + (f"; it is expected back on {when}." if when else ".")
    if in_stock(facts) is None:
        return ""
    if isinstance(quantity, int | float) and quantity <= FEW_LEFT:
        return f"Only {int(quantity)} left of {the}."
    return f"Yes, {the} is in stock." if name != "It" else "It is in stock."


def _future_date(value: Any, today: date | None) -> str | None:
    """An ISO 8601 date or datetime written "12 March 2027", when it is after ``today``."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(str(value)).date()
    except ValueError:
        return None
    if when <= (today or datetime.now(UTC).date()):
        return None
    return f"{when.day} {when:%B %Y}"


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
