"""Shopify product CSV exports (the sample in data/samples and ones written here), read for real."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from core.errors import BadRequest
from core.shop import Product
from retrieval.catalogue.feed_item import FIELD_LIMIT
from retrieval.catalogue.shopify_csv import MAX_VARIANTS, ShopifyCsv

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "samples" / "shopify_products.csv"
CDN = "https://cdn.shopify.com/s/files/1/0000/0001/files/"
# The columns of Shopify's long-standing export, in its order (the ones these tests fill).
CLASSIC = ["Handle", "Title", "Body (HTML)", "Vendor", "Product Category", "Type", "Tags", "Published",
           "Option1 Name", "Option1 Value", "Option2 Name", "Option2 Value", "Option3 Name", "Option3 Value",
           "Variant SKU", "Variant Grams", "Variant Inventory Tracker", "Variant Inventory Qty",
           "Variant Inventory Policy", "Variant Fulfillment Service", "Variant Price",
           "Variant Compare At Price", "Variant Requires Shipping", "Variant Taxable", "Variant Barcode",
           "Image Src", "Image Position", "Image Alt Text", "Gift Card", "Variant Image", "Status"]

Row = Mapping[str, str]


def export(tmp_path: Path, rows: Sequence[Row], columns: Sequence[str] = CLASSIC, *,
           name: str = "products_export_1.csv", encoding: str = "utf-8") -> Path:
    """A CSV written as Shopify writes it: every column on every row, empty where not given."""
    path = tmp_path / name
    with path.open("w", newline="", encoding=encoding) as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(column, "") for column in columns])
    return path


def simple(handle: str, title: str, sku: str, price: str = "10.00", **more: str) -> dict[str, str]:
    """The one row of a product without variants."""
    return {"Handle": handle, "Title": title, "Published": "TRUE", "Option1 Name": "Title",
            "Option1 Value": "Default Title", "Variant SKU": sku, "Variant Inventory Tracker": "shopify",
            "Variant Inventory Qty": "4", "Variant Inventory Policy": "deny", "Variant Price": price,
            "Status": "active", **more}


def by_code(products: Sequence[Product]) -> dict[str, Product]:
    return {p.stock_code: p for p in products}


# --- the sample export ---------------------------------------------------------------------------


def test_the_sample_export_reads_one_product_per_variant() -> None:
    read = ShopifyCsv(SAMPLE, "https://shop.example/", currency="gbp").read()
    products = by_code(read.products)
    assert list(products) == ["MUG-1", "TEE-GRN-S", "TEE-GRN-M", "organic-cotton-tee-navy-s", "GIFT-25"]

    mug = products["MUG-1"]
    # A single "Default Title" variant is named by the product's title alone.
    assert (mug.name, mug.price, mug.category) == ("Enamel Camping Mug", 12.5, "Mugs")
    assert mug.facts["description"] == "A sturdy enamel mug & lid.\nHolds 350 ml\nDishwasher safe"
    assert mug.facts["link"] == "https://shop.example/products/enamel-camping-mug"
    # The continuation row's image joins the product's, in Image Position order.
    assert mug.facts["images"] == [CDN + "mug.jpg", CDN + "mug-lid.jpg"]
    assert mug.facts["image_link"] == CDN + "mug.jpg"
    assert (mug.facts["availability"], mug.facts["stock_quantity"]) == ("in_stock", 12)
    assert (mug.facts["brand"], mug.facts["gtin"]) == ("Trailware", "4006381333931")
    assert mug.facts["mpn"] == "TW-MUG"
    assert (mug.facts["item_group_id"], mug.facts["currency"]) == ("enamel-camping-mug", "GBP")
    assert "regular_price" not in mug.facts and "colours" not in mug.facts

    green_s = products["TEE-GRN-S"]
    assert green_s.name == "Organic Cotton Tee - Green / S"
    assert (green_s.facts["colours"], green_s.facts["size"]) == (["green"], "S")
    # On sale: the compare-at price is the regular price.
    assert (green_s.price, green_s.facts["regular_price"]) == (18.0, 24.0)
    assert (green_s.facts["availability"], green_s.facts["stock_quantity"]) == ("out_of_stock", 0)
    assert green_s.facts["images"] == [CDN + "tee-green.jpg", CDN + "tee-navy.jpg", CDN + "tee-back.jpg"]
    assert products["TEE-GRN-M"].facts["availability"] == "in_stock"

    # No SKU: the handle and option values; policy "continue" at 0 is a backorder.
    navy = products["organic-cotton-tee-navy-s"]
    assert navy.name == "Organic Cotton Tee - Navy / S"
    assert (navy.facts["availability"], navy.facts["colours"]) == ("backorder", ["navy"])
    assert navy.facts["image_link"] == CDN + "tee-navy.jpg"  # the variant's own image first
    assert navy.facts["item_group_id"] == "organic-cotton-tee"

    # Stock not tracked (no inventory tracker): always for sale, no count.
    gift = products["GIFT-25"]
    assert gift.facts["availability"] == "in_stock" and "stock_quantity" not in gift.facts

    assert read.skipped == ("line 7 (handle 'linen-apron'): status draft; not for sale, left out",
                            "line 8 (handle 'merino-scarf'): not published (Published FALSE); "
                            "not for sale, left out")


def test_without_a_shop_url_or_currency_there_is_no_link_or_currency() -> None:
    source = ShopifyCsv(SAMPLE)
    products = source.read().products
    assert source.name == "shopify-csv:shopify_products.csv"
    assert all("link" not in p.facts and "currency" not in p.facts for p in products)


@pytest.mark.parametrize(("shop_url", "currency"), [("javascript:alert(1)", None), (None, "pounds")])
def test_a_bad_shop_url_or_currency_is_refused(shop_url: str | None, currency: str | None) -> None:
    with pytest.raises(BadRequest):
        ShopifyCsv(SAMPLE, shop_url, currency=currency)


# --- the current export's column names --------------------------------------------------------------


def test_the_current_exports_column_names_read_the_same(tmp_path: Path) -> None:
    columns = ["Title", "URL handle", "Description", "Vendor", "Product category", "Type", "Tags",
               "Published on online store", "Status", "SKU", "Barcode", "Option1 name", "Option1 value",
               "Option2 name", "Option2 value", "Price", "Compare-at price", "Inventory tracker",
               "Inventory quantity", "Continue selling when out of stock", "Product image URL",
               "Image position", "Variant image URL"]
    rows = [
        {"Title": "Wool Beanie", "URL handle": "wool-beanie", "Description": "<p>Merino &amp; wool</p>",
         "Vendor": "Northwind", "Product category": "Apparel & Accessories > Clothing Accessories > Hats",
         "Published on online store": "TRUE", "Status": "Active", "SKU": "BEANIE-RED",
         "Option1 name": "Colour", "Option1 value": "Red", "Option2 name": "Material",
         "Option2 value": "Merino", "Price": "15.00", "Inventory tracker": "shopify",
         "Inventory quantity": "-2", "Continue selling when out of stock": "CONTINUE",
         "Product image URL": CDN + "beanie.jpg", "Image position": "1"},
        {"URL handle": "wool-beanie", "SKU": "BEANIE-GREY", "Option1 value": "Grey",
         "Option2 value": "Merino", "Price": "15.00", "Inventory tracker": "shopify",
         "Inventory quantity": "9", "Continue selling when out of stock": "DENY"},
    ]
    read = ShopifyCsv(export(tmp_path, rows, columns), currency="EUR").read()
    red, grey = read.products
    assert (red.stock_code, red.name) == ("BEANIE-RED", "Wool Beanie - Red / Merino")
    assert (red.facts["colours"], red.facts["materials"]) == (["red"], ["merino"])
    # Oversold with "continue selling": a backorder, and none in stock (not -2).
    assert (red.facts["availability"], red.facts["stock_quantity"]) == ("backorder", 0)
    # No Type: the category path stands for it, its first level the catalogue category.
    assert red.category == "Apparel & Accessories"
    assert red.facts["description"] == "Merino & wool"
    assert (grey.facts["availability"], grey.facts["stock_quantity"]) == ("in_stock", 9)
    assert grey.facts["image_link"] == CDN + "beanie.jpg"
    assert read.skipped == ()


# --- bad rows ------------------------------------------------------------------------------------


def test_bad_rows_are_skipped_with_their_line_named_and_the_rest_read(tmp_path: Path) -> None:
    rows = [
        simple("mug", "Mug", "MUG-1", **{"Body (HTML)": "Line one\nline two, with a comma"}),  # lines 2-3
        {"Handle": "stray-variant", "Variant SKU": "X-1", "Variant Price": "3.00"},  # line 4: no title
        simple("lamp", "Lamp", "LAMP-1", price="twelve"),  # line 5: not a price
        simple("jar", "Jar", "JAR-1", **{"Variant Inventory Qty": "lots"}),  # line 6
        simple("mug-2", "Second Mug", "MUG-1"),  # line 7: the SKU of line 2
        simple("bowl", "Bowl", "BOWL-1"),  # line 8
        simple("mug", "Mug again", "MUG-9"),  # line 9: the handle of line 2, not next to it
    ]
    path = export(tmp_path, rows)
    # An unquoted comma in a value: the row has more cells than the header, the last one
    # (Status) pushed past it (line 10).
    with path.open("a", encoding="utf-8", newline="") as f:
        f.write("plate,Plate,A plate, white,Acme" + "," * (len(CLASSIC) - 4) + "active\r\n")
    read = ShopifyCsv(path).read()

    assert [p.stock_code for p in read.products] == ["MUG-1", "JAR-1", "BOWL-1"]
    assert read.products[0].facts["description"] == "Line one\nline two, with a comma"
    jar = read.products[1]
    assert "availability" not in jar.facts and "stock_quantity" not in jar.facts
    assert read.skipped == (
        "line 4 (handle 'stray-variant'): no Title, and not after a row of its handle; row skipped",
        "line 5 (id 'LAMP-1'): price 'twelve' is not an amount and currency such as '15.00 GBP'; "
        "item skipped",
        "line 6 (handle 'jar'): inventory quantity 'lots' is not a whole number; availability left out",
        "line 7 (id 'MUG-1'): repeats the stock code of line 2; the first kept, this one skipped",
        "line 9 (handle 'mug'): repeats the handle of line 2; the first kept, this one skipped",
        f"line 10: {len(CLASSIC) + 1} cells, the header has {len(CLASSIC)} (an unquoted comma?); "
        "row skipped",
    )


def test_a_field_over_the_limit_refuses_its_row_only(tmp_path: Path) -> None:
    huge = "x" * (FIELD_LIMIT + 10)
    rows = [simple("big", "Big", "BIG-1", **{"Body (HTML)": huge}), simple("ok", "Fine", "OK-1")]
    read = ShopifyCsv(export(tmp_path, rows)).read()
    assert [p.stock_code for p in read.products] == ["OK-1"]
    assert len(read.skipped) == 1 and read.skipped[0].startswith("line 2: a field is over 10 MiB")


def test_a_description_of_hostile_size_is_cut_and_said(tmp_path: Path) -> None:
    rows = [simple("long", "Long", "LONG-1", **{"Body (HTML)": "<p>" + "word " * 20_000 + "</p>"})]
    read = ShopifyCsv(export(tmp_path, rows)).read()
    assert len(read.products[0].facts["description"]) <= 64 * 1024
    assert read.skipped == ("line 2 (id 'LONG-1'): description is over 64 KiB of text; cut",)


def test_variants_past_shopifys_most_are_skipped(tmp_path: Path) -> None:
    first = simple("many", "Many", "MANY-0", **{"Option1 Name": "Size", "Option1 Value": "0"})
    more = [{"Handle": "many", "Option1 Value": str(n), "Variant SKU": f"MANY-{n}", "Variant Price": "1.00"}
            for n in range(1, MAX_VARIANTS + 2)]
    read = ShopifyCsv(export(tmp_path, [first, *more])).read()
    assert len(read.products) == MAX_VARIANTS
    assert read.skipped == (f"line {MAX_VARIANTS + 2} (handle 'many'): over {MAX_VARIANTS} variants, "
                            "Shopify's most; the rest skipped",)


# --- files refused whole -----------------------------------------------------------------------------


def test_a_latin_1_file_is_refused_naming_the_line(tmp_path: Path) -> None:
    rows = [simple("mug", "Mug", "MUG-1"), simple("cafe-mug", "Café Mug", "CAFE-1")]
    path = export(tmp_path, rows, encoding="latin-1")
    with pytest.raises(BadRequest) as refused:
        ShopifyCsv(path).read()
    message = str(refused.value)
    assert "byte 0xE9" in message and "(line 3)" in message and "is not UTF-8" in message
    assert message.startswith("products_export_1.csv: ")

    # Said to be Latin-1, it reads.
    read = ShopifyCsv(path, encoding="latin-1").read()
    assert [p.name for p in read.products] == ["Mug", "Café Mug"]


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    path = export(tmp_path, [simple("mug", "Mug", "MUG-1")], encoding="utf-8-sig")
    assert [p.stock_code for p in ShopifyCsv(path).read().products] == ["MUG-1"]


def test_a_file_that_is_not_a_shopify_export_is_refused(tmp_path: Path) -> None:
    path = export(tmp_path, [{"id": "A", "title": "B"}], columns=["id", "title", "price"])
    with pytest.raises(BadRequest, match=r"line 1: the header has no Handle \(or URL handle\) column"):
        ShopifyCsv(path).read()
    no_price = export(tmp_path, [{"Handle": "a", "Title": "B"}], columns=["Handle", "Title"], name="b.csv")
    with pytest.raises(BadRequest, match=r"the header has no Variant Price \(or Price\) column"):
        ShopifyCsv(no_price).read()
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"\r\n\r\n")
    with pytest.raises(BadRequest, match="the file is empty"):
        ShopifyCsv(empty).read()
    with pytest.raises(BadRequest, match="not an encoding"):
        ShopifyCsv(path, encoding="no-such-encoding").read()
