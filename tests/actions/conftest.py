"""A tiny hand-made shop: transactions CSV plus the prepared JSON tables of ``var/shop``.

Distinct buyers per product (what ``popular`` ranks by):
10006: 5, 10001: 4, 10002: 3, 10003/10004/10005: 2 (10005 has the most invoices: one
wholesaler re-orders it), 10007: 1 (customer 12345 buys it twice: a repeat purchase).
10001 and 10002 are bought together in three invoices.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from actions.services import ShopServices
from core.settings import Settings
from harness.oscar_server import OscarServer

HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
          "CustomerID", "Country"]

NAMES = {
    "10001": "RED HEART MUG",
    "10002": "RED HEART PLATE",
    "10003": "BLUE STAR LANTERN",
    "10004": "GREEN TREE CANDLE",
    "10005": "GOLD STAR BAUBLE",
    "10006": "PAPER CHAIN KIT",
    "10007": "VINTAGE DOILY SET",
    "POST": "POSTAGE",
}
PRICES = {"10001": 2.5, "10002": 3.0, "10003": 4.25, "10004": 3.75, "10005": 1.25,
          "10006": 2.95, "10007": 2.5, "POST": 18.0}

# (invoice, date, customer or "" for a guest, [(stock code, quantity)])
INVOICES: list[tuple[str, str, str, list[tuple[str, int]]]] = [
    ("500001", "2011-01-05 10:00:00", "11111.0", [("10001", 6), ("10002", 6)]),
    ("500002", "2011-01-06 10:00:00", "11112.0", [("10001", 2), ("10002", 2)]),
    ("500003", "2011-01-07 10:00:00", "11113.0", [("10001", 1), ("10002", 1), ("10003", 1)]),
    ("500004", "2011-01-08 10:00:00", "", [("10001", 1), ("10004", 1)]),
    ("500005", "2011-01-09 10:00:00", "11114.0", [("10006", 1), ("10005", 3)]),
    ("500006", "2011-01-10 10:00:00", "11115.0", [("10006", 2)]),
    ("500007", "2011-01-11 10:00:00", "11116.0", [("10006", 1), ("10003", 1)]),
    ("500008", "2011-01-12 10:00:00", "", [("10006", 4)]),
    ("500009", "2011-02-01 10:00:00", "12345.0", [("10007", 2), ("10004", 1)]),
    ("500010", "2011-03-01 10:00:00", "12345.0", [("10007", 4)]),
    ("C500011", "2011-03-01 11:00:00", "12345.0", [("10001", -1)]),
    ("500012", "2011-03-02 10:00:00", "12345.0", [("POST", 1)]),
    ("500013", "2011-03-03 10:00:00", "", [("10005", -2)]),
    ("500015", "2011-01-13 10:00:00", "11117.0", [("10006", 1)]),
    *[(f"50002{i}", f"2011-04-0{i + 1} 10:00:00", "11118.0", [("10005", 24)]) for i in range(5)],
]


def write_transactions(path: Path) -> Path:
    """Write the fixture transactions, plus a zero-price line that must be ignored."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for invoice, date, customer, lines in INVOICES:
            for code, quantity in lines:
                writer.writerow([invoice, code, NAMES[code], quantity, date, PRICES[code],
                                 customer, "United Kingdom"])
        writer.writerow(["500030", "10003", NAMES["10003"], 1, "2011-05-01 10:00:00", 0.0,
                         "11119.0", "United Kingdom"])
    return path


def _order(invoice: str, date: str, customer: str, lines: list[tuple[str, int]],
           status: str, delivery: str) -> dict[str, object]:
    return {
        "order_id": invoice, "customer_id": customer.removesuffix(".0") or None, "date": date,
        "country": "United Kingdom", "status": status, "expected_delivery": delivery,
        "email": f"buyer{invoice}@example.com", "postcode": "SW1A 1AA",
        "lines": [{"stock_code": c, "name": NAMES[c], "quantity": q, "price": PRICES[c]}
                  for c, q in lines],
    }


def write_shop(shop_dir: Path) -> Path:
    """Write ``products.json``, ``orders.json`` and ``customers.json`` as ``shopbot prepare``."""
    shop_dir.mkdir(parents=True, exist_ok=True)
    products = [{"stock_code": c, "name": n, "price": PRICES[c], "category": "Gifts",
                 "popularity": 0} for c, n in NAMES.items() if c != "POST"]
    by_id = {inv: (date, cust, lines) for inv, date, cust, lines in INVOICES}
    orders = [
        _order("500009", *by_id["500009"], status="delivered", delivery="2011-02-04"),
        _order("500010", *by_id["500010"], status="shipped", delivery="2011-03-05"),
        _order("500001", *by_id["500001"], status="processing", delivery="2011-01-09"),
    ]
    customers = [
        {"customer_id": "12345", "country": "United Kingdom", "order_ids": ["500009", "500010"]},
        {"customer_id": "11111", "country": "United Kingdom", "order_ids": ["500001"]},
    ]
    for name, rows in (("products", products), ("orders", orders), ("customers", customers)):
        (shop_dir / f"{name}.json").write_text(json.dumps(rows), encoding="utf-8")
    return shop_dir


@pytest.fixture(scope="session")
def shop_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings pointing at a var dir holding the tiny shop and its transactions."""
    root = tmp_path_factory.mktemp("shopvar")
    write_shop(root / "var" / "shop")
    csv_path = write_transactions(root / "transactions.csv")
    return Settings(var_dir=root / "var", transactions_csv=csv_path)


@pytest.fixture(scope="session")
def services(shop_settings: Settings) -> ShopServices:
    """The tiny shop's services, loaded the way the bot loads them."""
    return ShopServices.load(shop_settings.shop_dir, shop_settings.transactions_csv)


@pytest.fixture
def sales_csv(tmp_path: Path) -> Path:
    """The fixture transactions in a fresh temporary file."""
    return write_transactions(tmp_path / "transactions.csv")


@pytest.fixture(scope="session")
def oscar_shop() -> Iterator[OscarServer]:
    """A real django-oscar shop with its sample orders, served for the whole session."""
    with OscarServer() as shop:
        yield shop
