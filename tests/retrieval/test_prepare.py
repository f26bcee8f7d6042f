"""The demo shop builder: real rows of the UCI sample, and a hand-made CSV for the rules."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from core.errors import BadRequest
from core.settings import Settings
from core.shop import load_customers, load_orders, load_products
from retrieval.prepare import (
    PrepareReport,
    add_working_days,
    categorise,
    clean_name,
    order_status,
    prepare_shop,
)

CSV = Settings().transactions_csv
HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
          "CustomerID", "Country"]


@pytest.fixture(scope="module")
def small_shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[PrepareReport, Path]:
    out = tmp_path_factory.mktemp("shop")
    return prepare_shop(CSV, out, limit_rows=3000), out


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def test_report_matches_what_the_loaders_read(small_shop: tuple[PrepareReport, Path]) -> None:
    report, shop = small_shop
    products, orders, customers = load_products(shop), load_orders(shop), load_customers(shop)
    assert report.rows == 3000
    assert report.products == len(products) > 1000
    assert report.orders == len(orders)
    assert report.customers == len(customers)
    assert report.cancelled_orders == sum(o.status == "cancelled" for o in orders.values()) > 0
    assert report.guest_orders == sum(o.customer_id is None for o in orders.values()) > 0
    assert report.as_of == "2011-12-09"


def test_known_product_from_the_first_rows(small_shop: tuple[PrepareReport, Path]) -> None:
    # Rows 3, 1063 and 2567 of the CSV: 8.29 (guest), 4.15 and 4.15.
    products = {p.stock_code: p for p in load_products(small_shop[1])}
    jar = products["23169"]
    assert jar.name == "Classic Glass Cookie Jar"
    assert jar.price == 4.15
    assert jar.category == "Kitchen & Dining"
    assert jar.popularity == 3
    heart = products["85123A"]
    assert (heart.name, heart.price, heart.category) == (
        "White Hanging Heart T-Light Holder", 2.95, "Candles & Lighting")


def test_only_real_products_with_prices(small_shop: tuple[PrepareReport, Path]) -> None:
    products = load_products(small_shop[1])
    codes = [p.stock_code for p in products]
    assert len(codes) == len(set(codes))
    assert not {"POST", "DOT", "M", "D", "C2", "S", "BANK CHARGES", "AMAZONFEE"} & set(codes)
    assert all(p.price > 0 and p.name and p.name == p.name.strip() for p in products)
    assert all(p.popularity >= 0 for p in products)


def test_cancelled_order_and_its_postage(small_shop: tuple[PrepareReport, Path]) -> None:
    orders = load_orders(small_shop[1])
    cancelled = orders["C567940"]  # -1 x REGENCY CAKESTAND 3 TIER at 12.75, customer 16984
    assert cancelled.status == "cancelled"
    assert cancelled.customer_id == "16984"
    assert cancelled.date == "2011-09-22T18:21:00"
    assert cancelled.expected_delivery == "2011-09-27"
    assert [(ln.stock_code, ln.quantity, ln.price) for ln in cancelled.lines] == [
        ("22423", 1, 12.75)]
    postage = orders["C577070"]  # a cancelled postage charge to Finland
    assert [(ln.name, ln.price) for ln in postage.lines] == [("Postage", 40.0)]


def test_guest_orders_have_no_customer(small_shop: tuple[PrepareReport, Path]) -> None:
    orders, customers = load_orders(small_shop[1]), load_customers(small_shop[1])
    assert orders["578065"].customer_id is None
    listed = {oid for c in customers.values() for oid in c.order_ids}
    guests = {oid for oid, o in orders.items() if o.customer_id is None}
    assert guests and not guests & listed


def test_customers_list_their_orders_oldest_first(small_shop: tuple[PrepareReport, Path]) -> None:
    orders, customers = load_orders(small_shop[1]), load_customers(small_shop[1])
    for customer in customers.values():
        assert customer.customer_id.isdigit(), "no '.0' float suffix"
        history = [orders[oid] for oid in customer.order_ids]
        assert all(o.customer_id == customer.customer_id for o in history)
        assert [o.date for o in history] == sorted(o.date for o in history)
    assert len({oid for c in customers.values() for oid in c.order_ids}) == sum(
        o.customer_id is not None for o in orders.values())


def test_same_input_gives_identical_files(small_shop: tuple[PrepareReport, Path],
                                          tmp_path: Path) -> None:
    prepare_shop(CSV, tmp_path, limit_rows=3000)
    for name in ("products.json", "orders.json", "customers.json", "descriptions.json"):
        assert (tmp_path / name).read_bytes() == (small_shop[1] / name).read_bytes(), name


def test_rules_on_a_hand_made_csv(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "t.csv", [
        ["600001", "11111", "JAM JAR  SET ", "2", "2011-12-05 10:00:00", "1.0", "12345.0",
         "United Kingdom"],
        ["600001", "POST", "POSTAGE", "1", "2011-12-05 10:00:00", "18.0", "12345.0",
         "United Kingdom"],
        ["600002", "11111", "JAM JAR SET", "1", "2011-12-08 09:00:00", "2.0", "", "Germany"],
        ["600003", "11111", "JAM JAR SET", "1", "2011-12-01 09:00:00", "10.0", "12345.0",
         "France"],
        ["600004", "M", "Manual", "1", "2011-12-02 09:00:00", "50.0", "12345.0",
         "United Kingdom"],
        ["600005", "22222", "damaged", "-5", "2011-12-02 09:00:00", "0.0", "", "United Kingdom"],
        ["C600006", "11111", "JAM JAR SET", "-3", "2011-12-09 09:00:00", "1.0", "12345.0",
         "United Kingdom"],
    ])
    report = prepare_shop(source, tmp_path / "shop")
    products = load_products(tmp_path / "shop")
    assert [(p.stock_code, p.name, p.price, p.popularity) for p in products] == [
        ("11111", "Jam Jar Set", 2.0, 3)]
    orders = load_orders(tmp_path / "shop")
    assert sorted(orders) == ["600001", "600002", "600003", "C600006"], "M/adjustment-only dropped"
    assert [ln.name for ln in orders["600001"].lines] == ["Jam Jar Set", "Postage"]
    assert orders["600001"].total == 20.0
    assert orders["C600006"].lines[0].quantity == 3
    assert orders["600002"].customer_id is None
    customer = load_customers(tmp_path / "shop")["12345"]
    assert customer.order_ids == ("600003", "600001", "C600006")
    assert customer.country == "United Kingdom"
    assert (report.skipped_rows, report.as_of) == (2, "2011-12-09")


def test_order_status_rules() -> None:
    friday = date(2011, 12, 9)
    uk, de, us = "United Kingdom", "Germany", "USA"
    assert order_status("C581490", date(2011, 12, 9), uk, friday)[0] == "cancelled"
    assert order_status("581490", date(2011, 12, 8), uk, friday) == (
        "processing", date(2011, 12, 13))
    assert order_status("581400", date(2011, 12, 7), uk, friday) == (
        "dispatched", date(2011, 12, 12))
    assert order_status("581300", date(2011, 12, 5), uk, friday) == (
        "delivered", date(2011, 12, 8))
    assert order_status("581300", date(2011, 12, 5), de, friday) == (
        "in transit", date(2011, 12, 12))
    assert order_status("580000", date(2011, 11, 28), us, friday) == (
        "in transit", date(2011, 12, 12))
    assert order_status("570000", date(2011, 11, 1), us, friday)[0] == "delivered"


def test_working_days_skip_weekends() -> None:
    assert add_working_days(date(2011, 12, 9), 3) == date(2011, 12, 14)  # Friday -> Wednesday
    assert add_working_days(date(2011, 12, 10), 1) == date(2011, 12, 12)  # Saturday -> Monday


@pytest.mark.parametrize(("raw", "name"), [
    ("SET OF 36 DOILIES PANTRY DESIGN", "Set of 36 Doilies Pantry Design"),
    ("POLYESTER FILLER PAD 45x45cm", "Polyester Filler Pad 45x45cm"),
    ("CHILDS GARDEN RAKE BLUE ", "Child's Garden Rake Blue"),
    ("LED TEA LIGHTS", "LED Tea Lights"),
    ("RED WOOLLY HOTTIE WHITE HEART.", "Red Woolly Hottie White Heart"),
    ("FOUR HOOK  WHITE LOVEBIRDS", "Four Hook White Lovebirds"),
    ("RETRO PLASTIC 70'S TRAY", "Retro Plastic 70's Tray"),
])
def test_clean_name(raw: str, name: str) -> None:
    assert clean_name(raw) == name


@pytest.mark.parametrize(("description", "category"), [
    ("CLASSIC GLASS COOKIE JAR", "Kitchen & Dining"),
    ("PINK FLORAL FELTCRAFT SHOULDER BAG", "Bags & Purses"),
    ("JUMBO BAG VINTAGE CHRISTMAS", "Christmas"),
    ("COOK WITH WINE METAL SIGN", "Signs & Plaques"),
    ("CHILDS GARDEN RAKE BLUE", "Garden"),
    ("ANTIQUE HEART SHELF UNIT", "Storage"),  # "ELF" must not make it Christmas
    ("SMALL MARSHMALLOWS PINK BOWL", "Kitchen & Dining"),  # nor "OWL" Home Decor
    ("PAPER BUNTING VINTAGE PAISLEY", "Party"),
    ("BICYCLE PUNCTURE REPAIR KIT", "Other"),
])
def test_categorise(description: str, category: str) -> None:
    assert categorise(description) == category


def test_bad_input_is_a_bad_request(tmp_path: Path) -> None:
    with pytest.raises(BadRequest, match="cannot read"):
        prepare_shop(tmp_path / "missing.csv", tmp_path / "shop")
    broken = write_csv(tmp_path / "broken.csv", [
        ["600001", "11111", "JAM JAR", "two", "2011-12-05 10:00:00", "1.0", "", "Spain"]])
    with pytest.raises(BadRequest, match="line 2"):
        prepare_shop(broken, tmp_path / "shop")
    with pytest.raises(BadRequest, match="no transactions"):
        prepare_shop(write_csv(tmp_path / "empty.csv", []), tmp_path / "shop")
