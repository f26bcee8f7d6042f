"""The Oscar catalogue source against a real django-oscar shop (harness/oscar_server.py)."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Iterator

import pytest

from core.errors import Unavailable
from core.shop import Product
from harness.oscar_server import OscarServer, Sample
from retrieval.catalogue.oscar import OscarCatalogue
from retrieval.catalogue.source import CatalogueSource

VARIANTS = ("tshirt-red-s", "tshirt-red-m", "tshirt-navy-s", "tshirt-navy-m")


def sample(shop: OscarServer) -> Sample:
    assert shop.sample is not None
    return shop.sample


def read(shop: OscarServer) -> dict[str, Product]:
    catalogue = OscarCatalogue(shop.base_url)
    return {product.stock_code: product for product in catalogue.read().products}


def by_key(shop: OscarServer) -> dict[str, Product]:
    products = read(shop)
    return {key: products[str(pid)] for key, pid in sample(shop).products.items() if str(pid) in products}


def fetch(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers.get_content_type(), response.read()


def test_every_purchasable_product_is_read_with_its_price_and_stock(oscar_shop: OscarServer) -> None:
    source: CatalogueSource = OscarCatalogue(oscar_shop.base_url)
    result = source.read()
    ids = sample(oscar_shop).products
    assert result.skipped == ()
    # One per standalone product and per variant; the T-shirt parent is not for sale itself.
    assert {p.stock_code for p in result.products} == {str(ids[key]) for key in ids if key != "tshirt"}
    # Read across pages: the shop hands its product list out four at a time.
    _, _, first_page = fetch(oscar_shop.base_url + "/api/products/")
    page = json.loads(first_page)
    assert (page["count"], len(page["results"])) == (9, 4) and page["next"]

    products = by_key(oscar_shop)
    mug, towel, skillet = products["mug"], products["towel"], products["skillet"]
    assert (mug.name, mug.price, mug.category) == ("Enamel Camping Mug", 8.5, "Kitchen")
    assert (mug.facts["availability"], mug.facts["stock_quantity"]) == ("in_stock", 40)
    assert (towel.price, towel.facts["availability"], towel.facts["stock_quantity"]) == (6.0, "in_stock", 3)
    assert (skillet.facts["availability"], skillet.facts["stock_quantity"]) == ("out_of_stock", 0)
    assert mug.facts["currency"] == "GBP" and mug.facts["brand"] == "Trailhead"
    assert mug.facts["colours"] == ["white"] and mug.facts["materials"] == ["enamel"]
    assert mug.facts["description"] == "A light enamel mug for tea by the campfire. Holds 350 ml."
    assert "It is white." in mug.evidence() and "made of enamel" in mug.evidence()
    assert "image_link" not in products["board"].facts, "a product without pictures has none"


def test_variants_are_grouped_under_their_parent(oscar_shop: OscarServer) -> None:
    products = by_key(oscar_shop)
    parent = str(sample(oscar_shop).products["tshirt"])
    variants = [products[key] for key in VARIANTS]
    assert {v.facts["item_group_id"] for v in variants} == {parent}
    assert [(v.facts["colours"], v.facts["size"], v.price, v.facts["stock_quantity"]) for v in variants] == [
        (["red"], "S", 12.0, 5), (["red"], "M", 12.0, 0), (["navy"], "S", 13.0, 2), (["navy"], "M", 13.0, 9)]
    assert products["tshirt-red-m"].facts["availability"] == "out_of_stock"
    navy = products["tshirt-navy-m"]
    # What the variant does not have itself comes from its parent.
    assert navy.name == "Organic Cotton T-shirt (Navy, M)" and navy.category == "Clothing"
    assert navy.facts["product_type"] == "Clothing > T-shirts"
    assert navy.facts["description"].startswith("A heavyweight organic cotton T-shirt")
    assert navy.facts["materials"] == ["organic cotton"] and navy.facts["brand"] == "Flaxworks"
    assert len(navy.facts["images"]) == 2 and navy.facts["image_link"] == navy.facts["images"][0]
    assert "item_group_id" not in products["mug"].facts


def test_links_and_images_are_absolute_urls_the_shop_serves(oscar_shop: OscarServer) -> None:
    mug = by_key(oscar_shop)["mug"]
    assert mug.facts["link"].startswith(oscar_shop.base_url + "/")
    status, kind, page = fetch(mug.facts["link"])
    assert (status, kind) == (200, "text/html") and b"Enamel Camping Mug" in page
    assert len(mug.facts["images"]) == 2
    for url in mug.facts["images"]:
        assert url.startswith("http://")
        status, kind, image = fetch(url)
        assert (status, kind) == (200, "image/jpeg") and image[:2] == b"\xff\xd8"
    assert mug.card()["url"] == mug.facts["link"] and mug.card()["image"] == mug.facts["images"][0]


def test_a_price_and_stock_change_is_seen_at_the_next_read(oscar_shop: OscarServer) -> None:
    board = sample(oscar_shop).products["board"]
    before = by_key(oscar_shop)["board"]
    assert (before.price, before.facts["stock_quantity"]) == (14.5, 12)
    oscar_shop.reprice(board, "15.75")
    oscar_shop.set_stock(board, 0)
    try:
        now = by_key(oscar_shop)["board"]
        assert now.price == 15.75
        assert (now.facts["availability"], now.facts["stock_quantity"]) == ("out_of_stock", 0)
    finally:
        oscar_shop.reprice(board, "14.50")
        oscar_shop.set_stock(board, 12)


def test_an_added_product_appears_and_a_removed_one_goes(oscar_shop: OscarServer) -> None:
    added = oscar_shop.add_product("Merino Wool Socks", "7.00", 7, description="<p>Warm <b>socks</b>.</p>")
    try:
        socks = read(oscar_shop)[str(added)]
        assert (socks.name, socks.price, socks.facts["stock_quantity"]) == ("Merino Wool Socks", 7.0, 7)
        assert socks.facts["description"] == "Warm socks."
    finally:
        oscar_shop.remove_product(added)
    assert str(added) not in read(oscar_shop)


def test_a_product_without_a_price_is_skipped_and_named(oscar_shop: OscarServer) -> None:
    unpriced = oscar_shop.add_product("Stoneware Teapot", None)
    try:
        result = OscarCatalogue(oscar_shop.base_url).read()
    finally:
        oscar_shop.remove_product(unpriced)
    assert str(unpriced) not in {p.stock_code for p in result.products}
    assert result.skipped == (f"product {unpriced} ('Stoneware Teapot'): no price",)
    assert len(result.products) == 8, "the rest of the catalogue is read"


def test_a_stopped_shop_is_unavailable_and_read_again_once_back(oscar_shop: OscarServer) -> None:
    catalogue = OscarCatalogue(oscar_shop.base_url, timeout_s=2.0)
    before = catalogue.read().products
    oscar_shop.stop()
    try:
        with pytest.raises(Unavailable) as caught:
            catalogue.read()
        assert oscar_shop.base_url in str(caught.value)
        assert caught.value.__cause__ is not None, "raised from the connection error"
    finally:
        oscar_shop.start()
    assert catalogue.read().products == before


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung shop)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


def test_a_shop_that_does_not_answer_times_out(silent_port: int) -> None:
    catalogue = OscarCatalogue(f"http://127.0.0.1:{silent_port}", timeout_s=0.3)
    start = time.perf_counter()
    with pytest.raises(Unavailable, match="no answer within 0.3 s"):
        catalogue.read()
    assert time.perf_counter() - start < 2.0


def test_the_name_names_the_shop_and_never_the_token(oscar_shop: OscarServer) -> None:
    catalogue = OscarCatalogue(oscar_shop.base_url + "/", token=oscar_shop.reader_token)
    assert catalogue.name == f"oscar:{oscar_shop.base_url}"
    assert oscar_shop.reader_token not in repr(catalogue) + catalogue.name
    # The token is sent (the shop accepts it) and changes nothing in what is read.
    assert {p.stock_code for p in catalogue.read().products} == set(read(oscar_shop))
