"""Merchant Center feeds (RSS 2.0 XML and TSV) written here, read by the real parsers."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from defusedxml.common import DefusedXmlException

from core.errors import BadRequest
from harness.feeds import tsv_feed, xml_feed
from retrieval.catalogue.feed_item import DESCRIPTION_LIMIT, FIELD_LIMIT, parse_price
from retrieval.catalogue.merchant_feed import (
    Availability,
    Feed,
    FeedItem,
    Price,
    read_feed,
    to_products,
)

Attrs = Mapping[str, str | Sequence[str]]

GTIN = "4006381333931"  # a real EAN-13, check digit 1
ITEMS: list[Attrs] = [
    {"id": "MUG-1", "title": "Enamel Camping Mug",
     "description": "<p>A <b>sturdy</b> mug &amp; lid.</p><ul><li>Holds 350 ml</li>"
                    "<li>Dishwasher safe</li></ul><script>track()</script>",
     "link": "https://shop.example/mug", "image_link": "https://shop.example/mug.jpg",
     "additional_image_link": ["https://shop.example/mug-2.jpg", "https://shop.example/mug-3.jpg"],
     "price": "12.50 GBP", "availability": "in_stock", "brand": "Trailware", "gtin": GTIN,
     "mpn": "TW-MUG", "color": "Blue/White", "material": "Enamel/Steel", "pattern": "Speckled",
     "product_type": "Kitchen > Mugs > Camping", "google_product_category": "Home & Garden > Kitchen"},
    {"id": "TEE-S-GRN", "title": "Android T-Shirt, green, S", "price": "10.99 GBP",
     "item_group_id": "TEE", "color": "Green", "size": "S", "material": "Cotton",
     "availability": "out_of_stock", "product_type": "Clothing > T-Shirts"},
    {"id": "TEE-M-BLU", "title": "Android T-Shirt, blue, M", "price": "10.99 GBP",
     "sale_price": "8.99 GBP", "sale_price_effective_date": "2026-01-01T00:00+0000/2026-01-31",
     "item_group_id": "TEE", "color": "Blue", "size": "M", "material": "Cotton",
     "availability": "preorder", "availability_date": "2026-03-01T09:00-0800",
     "product_type": "Clothing > T-Shirts"},
    {"id": "LAMP-7", "title": "Desk Lamp", "price": "1,299.00 GBP", "sale_price": "999.00 GBP",
     "availability": "backorder", "availability_date": "2026-04-01", "google_product_category": "4636"},
]


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def messages(feed: Feed) -> list[tuple[str, str | None, str]]:
    return [(p.where, p.item_id, p.message) for p in feed.skipped]


# --- reading -------------------------------------------------------------------------------------


def test_xml_and_tsv_with_the_same_items_read_the_same(tmp_path: Path) -> None:
    xml = read_feed(write(tmp_path, "feed.xml", xml_feed(ITEMS)))
    tsv = read_feed(write(tmp_path, "feed.tsv", tsv_feed(ITEMS)))
    assert xml.skipped == () and tsv.skipped == ()
    assert [item.id for item in xml.items] == ["MUG-1", "TEE-S-GRN", "TEE-M-BLU", "LAMP-7"]
    assert xml.items == tsv.items

    mug = xml.items[0]
    assert mug == FeedItem(
        id="MUG-1", title="Enamel Camping Mug", price=Price(Decimal("12.50"), "GBP"),
        description="A sturdy mug & lid.\nHolds 350 ml\nDishwasher safe",
        link="https://shop.example/mug", image_link="https://shop.example/mug.jpg",
        additional_image_links=("https://shop.example/mug-2.jpg", "https://shop.example/mug-3.jpg"),
        availability=Availability.IN_STOCK, brand="Trailware", gtin=GTIN, mpn="TW-MUG",
        color=("Blue", "White"), material=("Enamel", "Steel"), pattern="Speckled",
        product_types=(("Kitchen", "Mugs", "Camping"),), google_product_category="Home & Garden > Kitchen")


def test_the_form_is_told_by_content_not_by_the_file_name(tmp_path: Path) -> None:
    xml_named_tsv = read_feed(write(tmp_path, "feed.tsv", xml_feed(ITEMS[:1])))
    tsv_named_xml = read_feed(write(tmp_path, "feed.xml", tsv_feed(ITEMS[:1])))
    assert xml_named_tsv.items == tsv_named_xml.items
    assert xml_named_tsv.items[0].title == "Enamel Camping Mug"


def test_variants_share_an_item_group_and_keep_their_own_colour_and_size(tmp_path: Path) -> None:
    feed = read_feed(write(tmp_path, "feed.xml", xml_feed(ITEMS)))
    tees = [item for item in feed.items if item.item_group_id == "TEE"]
    assert [(t.id, t.color, t.size) for t in tees] == [("TEE-S-GRN", ("Green",), "S"),
                                                        ("TEE-M-BLU", ("Blue",), "M")]
    assert feed.items[0].item_group_id is None


def test_prices_sale_prices_and_their_dates(tmp_path: Path) -> None:
    items = {item.id: item for item in read_feed(write(tmp_path, "feed.tsv", tsv_feed(ITEMS))).items}
    tee = items["TEE-M-BLU"]
    assert tee.sale_price == Price(Decimal("8.99"), "GBP")
    # A date alone ends a range at the end of its day (the spec's rule).
    assert tee.sale_price_effective_date == (datetime(2026, 1, 1, tzinfo=UTC),
                                             datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC))
    lamp = items["LAMP-7"]
    assert lamp.price == Price(Decimal("1299.00"), "GBP")
    assert lamp.sale_price == Price(Decimal("999.00"), "GBP") and lamp.sale_price_effective_date is None


def test_availability_values(tmp_path: Path) -> None:
    values = ["in_stock", "out_of_stock", "preorder", "backorder", "in stock", "Out of Stock", "sold out"]
    items = [{"id": f"A{i}", "title": f"Item {i}", "price": "1.00 GBP", "availability": v}
             for i, v in enumerate(values)]
    feed = read_feed(write(tmp_path, "feed.xml", xml_feed(items)))
    assert [item.availability for item in feed.items] == [
        Availability.IN_STOCK, Availability.OUT_OF_STOCK, Availability.PREORDER, Availability.BACKORDER,
        Availability.IN_STOCK, Availability.OUT_OF_STOCK, None]
    assert messages(feed) == [("item 7", "A6", "availability 'sold out' is none of in_stock, "
                                               "out_of_stock, preorder, backorder")]
    dated = read_feed(write(tmp_path, "dated.xml", xml_feed(ITEMS))).items
    assert dated[2].availability_date == datetime.fromisoformat("2026-03-01T09:00-08:00")
    assert dated[3].availability_date == datetime(2026, 4, 1, tzinfo=UTC)


@pytest.mark.parametrize(("text", "price"), [
    ("15.00 GBP", Price(Decimal("15.00"), "GBP")),
    ("GBP 15.00", Price(Decimal("15.00"), "GBP")),
    ("15.00 usd", Price(Decimal("15.00"), "USD")),
    ("1,299.00 USD", Price(Decimal("1299.00"), "USD")),
    ("1.299,00 EUR", Price(Decimal("1299.00"), "EUR")),
    ("12,99 EUR", Price(Decimal("12.99"), "EUR")),
    ("15", Price(Decimal("15"), None)),
    ("free", None), ("-3.00 GBP", None), ("1.2.3 GBP", None), ("GBP 15.00 USD", None),
    ("1e9 GBP", None), ("NaN GBP", None), ("15.00 £", None),
])
def test_price_forms(text: str, price: Price | None) -> None:
    assert parse_price(text) == price


def test_html_descriptions_are_reduced_to_text(tmp_path: Path) -> None:
    # Escaped HTML (the usual form), and XHTML written as elements inside the description.
    path = write(tmp_path, "feed.xml", (
        '<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0"><channel>'
        "<item><g:id>1</g:id><g:title>Jar</g:title><g:price>2.00 GBP</g:price>"
        "<g:description>&lt;h2&gt;Glass jar&lt;/h2&gt;&lt;p&gt;Airtight&amp;nbsp;lid&lt;br/&gt;1 litre"
        "&lt;/p&gt;&lt;style&gt;p{color:red}&lt;/style&gt;</g:description></item>"
        "<item><g:id>2</g:id><g:title>Tin</g:title><g:price>3.00 GBP</g:price>"
        "<g:description><p>Tin <b>box</b></p><p>Hinged, 5 &lt; 6 cm</p><script>x()</script>"
        "</g:description></item>"
        "<item><g:id>3</g:id><g:title>Deep</g:title><g:price>1.00 GBP</g:price><g:description>"
        + "<span>" * 100_000 + "deep" + "</span>" * 100_000 + "</g:description></item>"
        "</channel></rss>"))
    jar, tin, deep = read_feed(path).items
    assert jar.description == "Glass jar\nAirtight lid\n1 litre"
    assert tin.description == "Tin box\nHinged, 5 < 6 cm"
    # Nested deeper than recursion goes, and still read.
    assert deep.description == "deep"


def test_rss_and_atom_own_elements_stand_in_for_missing_g_attributes(tmp_path: Path) -> None:
    rss = write(tmp_path, "rss.xml", (
        '<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0"><channel><item>'
        "<g:id>7</g:id><title>Bowl</title><link>https://shop.example/bowl</link>"
        "<description>Deep bowl</description><g:price>4.00 GBP</g:price></item></channel></rss>"))
    atom = write(tmp_path, "atom.xml", (
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:g="http://base.google.com/ns/1.0"><entry>'
        '<g:id>7</g:id><title>Bowl</title><link href="https://shop.example/bowl"/>'
        "<summary>Deep bowl</summary><g:price>4.00 GBP</g:price></entry></feed>"))
    expected = FeedItem(id="7", title="Bowl", price=Price(Decimal("4.00"), "GBP"), description="Deep bowl",
                        link="https://shop.example/bowl")
    assert read_feed(rss).items == read_feed(atom).items == (expected,)


def test_a_10000_item_feed_arrives_whole(tmp_path: Path) -> None:
    xml_path, tsv_path = tmp_path / "big.xml", tmp_path / "big.tsv"
    with xml_path.open("w", encoding="utf-8") as xml, tsv_path.open("w", encoding="utf-8") as tsv:
        xml.write('<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0"><channel>\n')
        tsv.write("id\ttitle\tprice\titem_group_id\tsize\n")
        for i in range(10_000):
            xml.write(f"<item><g:id>P{i}</g:id><g:title>Product {i}</g:title>"
                      f"<g:price>{i % 100}.99 GBP</g:price><g:item_group_id>G{i // 4}</g:item_group_id>"
                      f"<g:size>{'SMLX'[i % 4]}</g:size></item>\n")
            tsv.write(f"P{i}\tProduct {i}\t{i % 100}.99 GBP\tG{i // 4}\t{'SMLX'[i % 4]}\n")
        xml.write("</channel></rss>\n")
    for path in (xml_path, tsv_path):
        feed = read_feed(path)
        assert feed.skipped == ()
        assert [item.id for item in feed.items] == [f"P{i}" for i in range(10_000)]
        assert feed.items[9_999].price == Price(Decimal("99.99"), "GBP")
        assert feed.items[9_999].item_group_id == "G2499" and feed.items[9_999].size == "X"


# --- hostile feeds: the whole file refused --------------------------------------------------------


def test_malformed_xml_is_refused_naming_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "feed.xml", (
        '<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0"><channel>\n'
        "<item><g:id>1</g:id><g:title>Mug</g:title><g:price>1.00 GBP</g:price></item>\n"
        "<item><g:id>2</g:title></item>\n"
        "</channel></rss>\n"))
    with pytest.raises(BadRequest, match=r"feed\.xml: not well-formed XML at line 3, column 16: "
                                         r"mismatched tag") as caught:
        read_feed(path)
    assert caught.value.__cause__ is not None


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0"><channel>
<item><g:id>1</g:id><g:title>&lol9;</g:title><g:price>1.00 GBP</g:price></item>
</channel></rss>
"""


def test_the_billion_laughs_document_is_refused(tmp_path: Path) -> None:
    refused = "declares the entity 'lol'; entity declarations are refused"
    with pytest.raises(BadRequest, match=refused) as caught:
        read_feed(write(tmp_path, "laughs.xml", BILLION_LAUGHS))
    assert isinstance(caught.value.__cause__, DefusedXmlException)


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE rss [<!ENTITY % xxe SYSTEM "file:///etc/passwd"> %xxe;]>',
])
def test_external_entities_are_refused(tmp_path: Path, doctype: str) -> None:
    path = write(tmp_path, "xxe.xml", (
        f'<?xml version="1.0"?>\n{doctype}\n<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">'
        "<channel><item><g:id>1</g:id><g:title>&xxe;</g:title><g:price>1.00 GBP</g:price></item>"
        "</channel></rss>"))
    with pytest.raises(BadRequest, match="declares the entity 'xxe'") as caught:
        read_feed(path)
    assert isinstance(caught.value.__cause__, DefusedXmlException)


def test_a_latin1_xml_file_read_as_utf8_is_refused_naming_the_byte(tmp_path: Path) -> None:
    body = xml_feed([{"id": "1", "title": "Café Mug", "price": "3.00 EUR"}], head="")
    data = body.encode("latin-1")
    path = write(tmp_path, "feed.xml", data)
    offset = data.index(b"\xe9")
    line = data[:offset].count(b"\n") + 1
    with pytest.raises(BadRequest, match=rf"byte 0xE9 at offset {offset} \(line {line}\) is not utf-8"):
        read_feed(path)
    # Declared, the same bytes read; and a caller can name the encoding a file does not declare.
    declared = write(tmp_path, "declared.xml", xml_feed(
        [{"id": "1", "title": "Café Mug", "price": "3.00 EUR"}],
        head='<?xml version="1.0" encoding="ISO-8859-1"?>\n').encode("latin-1"))
    assert read_feed(declared).items[0].title == "Café Mug"
    assert read_feed(path, encoding="latin-1").items[0].title == "Café Mug"


def test_a_latin1_tsv_file_is_refused_naming_the_byte_unless_its_encoding_is_given(tmp_path: Path) -> None:
    items = [{"id": "1", "title": "Mug", "price": "3.00 EUR"},
             {"id": "2", "title": "Crème Jar", "price": "4.00 EUR"}]
    data = tsv_feed(items).encode("latin-1")
    path = write(tmp_path, "feed.tsv", data)
    offset = data.index(b"\xe8")
    with pytest.raises(BadRequest, match=rf"feed\.tsv: byte 0xE8 at offset {offset} \(line 3\) is not utf-8"):
        read_feed(path)
    assert [item.title for item in read_feed(path, encoding="latin-1").items] == ["Mug", "Crème Jar"]


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    path = write(tmp_path, "feed.tsv", b"\xef\xbb\xbf" + tsv_feed(ITEMS[1:2]).encode())
    assert [item.id for item in read_feed(path).items] == ["TEE-S-GRN"]


@pytest.mark.parametrize(("text", "message"), [
    ("", "feed.txt: the feed is empty"),
    ("<html><body>Not found</body></html>", "the root element is <html>, not RSS 2.0 <rss> or Atom <feed>"),
    ("id,title,price\n1,Mug,1.00 GBP\n", "line 1: the header has no id, title, price column"),
    ("id\ttitle\n1\tMug\n", "line 1: the header has no price column"),
])
def test_what_is_not_a_feed_is_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        read_feed(write(tmp_path, "feed.txt", text))


# --- hostile feeds: one item left out, the rest read ----------------------------------------------


def test_items_without_id_title_or_a_price_are_skipped_and_reported(tmp_path: Path) -> None:
    items = [
        {"title": "No id", "price": "1.00 GBP"},
        {"id": "B", "price": "1.00 GBP"},
        {"id": "C", "title": "No price"},
        {"id": "D", "title": "Bad price", "price": "call us"},
        {"id": "E" * 51, "title": "Long id", "price": "1.00 GBP"},
        {"id": "OK", "title": "Fine", "price": "1.00 GBP"},
    ]
    expected = [
        (None, "no id; item skipped"),
        ("B", "no title; item skipped"),
        ("C", "no price; item skipped"),
        ("D", "price 'call us' is not an amount and currency such as '15.00 GBP'; item skipped"),
        (None, f"id {'E' * 51!r} is over 50 characters; item skipped"),
    ]
    xml = read_feed(write(tmp_path, "feed.xml", xml_feed(items)))
    tsv = read_feed(write(tmp_path, "feed.tsv", tsv_feed(items)))
    assert [item.id for item in xml.items] == [item.id for item in tsv.items] == ["OK"]
    assert messages(xml) == [(f"item {n}", i, m) for n, (i, m) in enumerate(expected, start=1)]
    assert messages(tsv) == [(f"line {n}", i, m) for n, (i, m) in enumerate(expected, start=2)]


def test_a_repeated_id_keeps_the_first_item(tmp_path: Path) -> None:
    items = [{"id": "A", "title": "First", "price": "1.00 GBP"},
             {"id": "B", "title": "Other", "price": "1.00 GBP"},
             {"id": "A", "title": "Second", "price": "2.00 GBP"}]
    feed = read_feed(write(tmp_path, "feed.tsv", tsv_feed(items)))
    assert [(item.id, item.title) for item in feed.items] == [("A", "First"), ("B", "Other")]
    assert messages(feed) == [("line 4", "A", "repeats the id of line 2; the first kept, this one skipped")]


def test_a_long_description_is_cut_and_reported(tmp_path: Path) -> None:
    words = "<p>" + "lorem ipsum " * 7_000 + "</p>"  # 84,000 characters of text
    feed = read_feed(write(tmp_path, "feed.xml", xml_feed(
        [{"id": "A", "title": "Essay", "price": "1.00 GBP", "description": words}])))
    (item,) = feed.items
    # Cut at the end of a word, within the limit.
    assert DESCRIPTION_LIMIT - 20 < len(item.description) <= DESCRIPTION_LIMIT
    assert item.description.endswith(("lorem…", "ipsum…"))
    assert ("lorem ipsum " * 7_000).startswith(item.description[:-1])
    assert messages(feed) == [("item 1", "A", "description is over 64 KiB of text; cut")]


@pytest.mark.parametrize(("name", "kind"), [("feed.xml", "xml"), ("feed.tsv", "tsv")])
def test_a_field_over_10_mib_refuses_its_item_only(tmp_path: Path, name: str, kind: str) -> None:
    items = [{"id": "BIG", "title": "Huge", "price": "1.00 GBP", "description": "x" * (FIELD_LIMIT + 1)},
             {"id": "OK", "title": "Fine", "price": "1.00 GBP", "description": "small"}]
    feed = read_feed(write(tmp_path, name, xml_feed(items) if kind == "xml" else tsv_feed(items)))
    assert [item.id for item in feed.items] == ["OK"]
    if kind == "xml":
        assert messages(feed) == [("item 1", "BIG", "description is over 10 MiB; item refused")]
    else:
        # The csv module stops at its field limit, before the row (and its id) is whole.
        ((where, item_id, message),) = messages(feed)
        assert (where, item_id) == ("line 2", None)
        assert message.startswith("a field is over 10 MiB") and message.endswith("row refused")


def test_unsafe_or_malformed_attributes_are_left_out_and_reported(tmp_path: Path) -> None:
    items = [{"id": "A", "title": "Mug", "price": "1.00 GBP", "link": "javascript:alert(1)",
              "image_link": "https://shop.example/a.jpg", "gtin": "4006381333932",
              "sale_price": "cheap", "availability_date": "next week",
              "additional_image_link": ["data:image/png;base64,AAAA", "https://shop.example/b.jpg"]}]
    feed = read_feed(write(tmp_path, "feed.xml", xml_feed(items)))
    (item,) = feed.items
    assert (item.link, item.image_link, item.additional_image_links) == (
        None, "https://shop.example/a.jpg", ("https://shop.example/b.jpg",))
    assert (item.gtin, item.sale_price, item.availability_date) == (None, None, None)
    assert [m for _, _, m in messages(feed)] == [
        "link 'javascript:alert(1)' is not an http(s) URL of at most 2000 characters; left out",
        "additional_image_link 'data:image/png;base64,AAAA' is not an http(s) URL of at most 2000 "
        "characters; left out",
        "sale_price 'cheap' is not an amount and currency such as '15.00 GBP'",
        "availability_date 'next week' is not an ISO 8601 date such as '2026-12-25T13:00-0800'",
        "gtin '4006381333932' is not a GTIN-8, -12, -13 or -14 with a valid check digit",
    ]


def test_a_tsv_row_with_more_cells_than_the_header_is_skipped(tmp_path: Path) -> None:
    text = "id\ttitle\tprice\nA\tMug\t1.00 GBP\nB\tJar\twith\ta tab\t2.00 GBP\nC\tTin\t3.00 GBP\t\n"
    feed = read_feed(write(tmp_path, "feed.tsv", text))
    assert [item.id for item in feed.items] == ["A", "C"]
    assert messages(feed) == [("line 3", None, "the row has 5 cells, the header 3 (a tab inside a value?); "
                                               "row skipped")]


def test_tsv_header_names_are_read_as_attribute_names(tmp_path: Path) -> None:
    # Names as people write them, repeated columns, and a quoted cell with the csv module's rules.
    text = ('ID\tTitle\tPrice\tImage Link\tadditional_image_link\tadditional_image_link\tProduct Type\n'
            'A\t"Mug, ""large"""\t1.00 GBP\thttps://s.example/a.jpg\thttps://s.example/b.jpg\t'
            'https://s.example/c.jpg\t"Home > Kitchen,Gifts > Mugs"\n')
    (item,) = read_feed(write(tmp_path, "feed.tsv", text)).items
    assert item.title == 'Mug, "large"' and item.image_link == "https://s.example/a.jpg"
    assert item.additional_image_links == ("https://s.example/b.jpg", "https://s.example/c.jpg")
    assert item.product_types == (("Home", "Kitchen"), ("Gifts", "Mugs"))


def test_reading_leaves_the_csv_field_limit_no_lower(tmp_path: Path) -> None:
    before = csv.field_size_limit()
    read_feed(write(tmp_path, "feed.tsv", tsv_feed(ITEMS)))
    assert csv.field_size_limit() == max(before, FIELD_LIMIT)


# --- to catalogue products ------------------------------------------------------------------------


def test_items_become_products_with_their_facts(tmp_path: Path) -> None:
    feed = read_feed(write(tmp_path, "feed.xml", xml_feed(ITEMS)))
    in_sale = datetime(2026, 1, 15, tzinfo=UTC)
    mug, small_tee, tee, lamp = to_products(feed, now=in_sale)
    assert (mug.stock_code, mug.name, mug.price) == ("MUG-1", "Enamel Camping Mug", 12.5)
    assert mug.category == "Kitchen"
    assert mug.facts == {
        "description": "A sturdy mug & lid.\nHolds 350 ml\nDishwasher safe",
        "link": "https://shop.example/mug", "image_link": "https://shop.example/mug.jpg",
        "images": ["https://shop.example/mug.jpg", "https://shop.example/mug-2.jpg",
                   "https://shop.example/mug-3.jpg"],
        "availability": "in_stock", "brand": "Trailware", "gtin": GTIN, "mpn": "TW-MUG",
        "colours": ["blue", "white"], "materials": ["enamel", "steel"], "pattern": "Speckled",
        "product_type": "Kitchen > Mugs > Camping", "google_product_category": "Home & Garden > Kitchen",
        "currency": "GBP",
    }
    # The bot's colour and material sentences read the lists.
    assert mug.fact_sentences()["colour"] == "The Enamel Camping Mug is blue and white."
    assert small_tee.facts["item_group_id"] == tee.facts["item_group_id"] == "TEE"
    assert (small_tee.facts["size"], small_tee.facts["availability"]) == ("S", "out_of_stock")
    # Within the sale's dates the sale price is the price, and the regular one is kept as a fact.
    assert (tee.price, tee.facts["regular_price"]) == (8.99, 10.99)
    assert tee.facts["availability_date"] == "2026-03-01T09:00:00-08:00"
    assert (lamp.price, lamp.facts["regular_price"]) == (999.0, 1299.0)
    # Google's category as an id names nothing: the catalogue's catch-all category.
    assert lamp.category == "Other" and lamp.facts["google_product_category"] == "4636"
    after_sale = to_products(feed, now=datetime(2026, 2, 1, tzinfo=UTC))
    assert after_sale[2].price == 10.99 and "regular_price" not in after_sale[2].facts
    assert after_sale[3].price == 999.0  # a sale without dates always applies


def test_the_category_falls_back_to_googles_category_path(tmp_path: Path) -> None:
    feed = read_feed(write(tmp_path, "feed.tsv", tsv_feed([
        {"id": "A", "title": "Pan", "price": "9.00 GBP",
         "google_product_category": "Home & Garden > Kitchen & Dining > Cookware"}])))
    (pan,) = to_products(feed)
    assert pan.category == "Home & Garden"
    assert pan.facts == {"google_product_category": "Home & Garden > Kitchen & Dining > Cookware",
                         "currency": "GBP"}


def test_text_escaped_inside_cdata_is_decoded_before_it_is_read(tmp_path: Path) -> None:
    # WooCommerce feed plug-ins write "Kitchen &gt; Coffee" inside CDATA: the characters "&gt;".
    feed = write(tmp_path, "feed.xml", xml_feed([]).replace("</channel>", (
        "<item><g:id>1</g:id><g:title><![CDATA[Copper &amp; Clay Mug]]></g:title><g:price>3.00 USD</g:price>"
        "<g:product_type><![CDATA[Kitchen &gt; Mugs]]></g:product_type></item></channel>")))
    [product] = to_products(read_feed(feed))
    assert product.name == "Copper & Clay Mug"
    assert product.category == "Kitchen" and product.facts["product_type"] == "Kitchen > Mugs"
