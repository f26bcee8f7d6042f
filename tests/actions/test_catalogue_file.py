"""The actions follow the synced catalogue file: a removed product is not shown, a repriced one
has its new price, a damaged file keeps what was loaded."""

from __future__ import annotations

import os
from pathlib import Path

from actions.catalogue_file import SyncedProducts
from actions.recommender import normalise_stock_code
from core.shop import Product
from retrieval.catalogue.store import write_products


def test_products_follow_each_sync_of_the_file(tmp_path: Path) -> None:
    write_products(tmp_path, [Product("a1", "Jute Doormat", 15.0, "Home"),
                              Product("B2", "Tin Jar", 4.0, "Kitchen")])
    products = SyncedProducts(tmp_path, normalise_stock_code, check_every_s=0)
    assert products["A1"].price == 15.0 and len(products) == 2

    write_products(tmp_path, [Product("A1", "Jute Doormat", 12.5, "Home")])
    os.utime(tmp_path / "products.json", ns=(1, 10**18))  # a new modification time, whatever the clock
    assert products["A1"].price == 12.5 and products.get("B2") is None

    (tmp_path / "products.json").write_text("[{", encoding="utf-8")
    os.utime(tmp_path / "products.json", ns=(1, 2 * 10**18))
    assert products["A1"].price == 12.5, "a damaged file keeps the catalogue already loaded"
