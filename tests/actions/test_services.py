"""Loading the shop's services from a var dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.services import ShopServices, normalise_order_id
from core.errors import NotReady
from core.settings import Settings


def test_load_reads_tables_and_fits_on_catalogue_products(services: ShopServices) -> None:
    assert set(services.products) == {f"1000{i}" for i in range(1, 8)}
    assert set(services.orders) == {"500009", "500010", "500001"}
    assert set(services.customers) == {"12345", "11111"}
    assert set(services.recommender.codes) <= set(services.products)
    assert "12345" in services.recommender.customers


def test_lookups_normalise_ids(services: ShopServices) -> None:
    order = services.order(" #500009 ")
    assert order is not None and order.customer_id == "12345"
    product = services.product("10001 ")
    assert product is not None and product.name == "RED HEART MUG"
    assert services.order("999999") is None and services.product("nope") is None


@pytest.mark.parametrize(("raw", "expected"), [("#573415", "573415"), (573415, "573415"),
                                               ("c573415", "C573415"), ("", "")])
def test_normalise_order_id(raw: object, expected: str) -> None:
    assert normalise_order_id(raw) == expected


def test_missing_shop_is_not_ready(tmp_path: Path, sales_csv: Path) -> None:
    settings = Settings(var_dir=tmp_path / "empty", transactions_csv=sales_csv)
    with pytest.raises(NotReady, match="products.json"):
        ShopServices.load(settings.shop_dir, settings.transactions_csv)
