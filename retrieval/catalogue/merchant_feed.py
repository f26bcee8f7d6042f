"""Read a Google Merchant Center product feed, XML or TSV, into typed items; map them to Products.

Both forms Google accepts (support.google.com/merchants answer 7052112, "Product data
specification", and 160589, "RSS 2.0 specification"): RSS 2.0 whose ``<item>`` elements carry
the attributes in the ``g:`` namespace (an Atom 1.0 ``<entry>`` reads the same), and the text form,
tab-separated with a header row of attribute names. Which one a file holds is read from its
content, never its name. Both are read as a stream, one item at a time, so a feed's size costs
time, not memory.

A feed is untrusted input. What makes the whole file unreadable (not well-formed XML, entity
declarations, bytes not in the file's encoding, a header without the required columns) raises
``BadRequest`` naming the line or byte; what spoils one item (no id, no title, a price that is
not one, a field over 10 MiB, a repeated id) leaves that item out and says so in
``Feed.skipped``, with the rest of the feed read.
"""

from __future__ import annotations

import codecs
import csv
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError, TreeBuilder
from xml.parsers.expat import ErrorString

from defusedxml.common import DefusedXmlException, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser, iterparse

from core.errors import BadRequest
from core.shop import Product
from retrieval.catalogue.feed_item import (
    FIELD_LIMIT,
    Availability,
    FeedItem,
    FeedProblem,
    Price,
    Raw,
    read_item,
)
from retrieval.catalogue.feed_text import BLOCKS, HIDDEN, csv_rows, first_decode_error, plain
from retrieval.prepare import OTHER

__all__ = ["Availability", "Feed", "FeedItem", "FeedProblem", "Price", "read_feed", "to_products"]

G = "{http://base.google.com/ns/1.0}"
ATOM = "{http://www.w3.org/2005/Atom}"
_ITEMS = ("item", f"{ATOM}entry")
_ROOTS = ("rss", f"{ATOM}feed")
# Atom's own elements that stand for a Merchant Center attribute.
_ATOM_NAMES = {"title": "title", "link": "link", "summary": "description", "content": "description"}
_REQUIRED_COLUMNS = ("id", "title", "price")
_DECLARED = re.compile(rb"""<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


@dataclass(frozen=True)
class Feed:
    """The items read, in feed order, and what was left out or cut on the way (``skipped``)."""

    items: tuple[FeedItem, ...]
    skipped: tuple[FeedProblem, ...]


def read_feed(path: Path, *, encoding: str | None = None) -> Feed:
    """Read the Merchant Center feed at ``path`` (RSS 2.0 / Atom XML or TSV, told by its content).

    ``encoding`` overrides what the file says: the XML declaration (UTF-8 when it has none) or,
    for TSV, UTF-8 (a byte-order mark is honoured). Raises ``BadRequest`` for a file that is not
    a readable feed; items that cannot be used are reported in ``Feed.skipped``.
    """
    head = _head(path)
    bom = next((name for mark, name in _BOMS if head.startswith(mark)), None)
    text = head.decode(bom or "utf-8", errors="ignore").lstrip("\ufeff \t\r\n")
    if not text:
        raise BadRequest(f"{path.name}: the feed is empty")
    problems: list[FeedProblem] = []
    if text.startswith("<"):
        declared = _DECLARED.search(head)
        stated = encoding or bom or (declared[1].decode() if declared else "utf-8")
        raws = _xml_items(path, encoding, stated)
    else:
        raws = _tsv_items(path, _tsv_encoding(encoding, bom), problems)
    items: list[FeedItem] = []
    first_at: dict[str, str] = {}
    for where, raw in raws:
        item = read_item(raw, where, problems)
        if item is None:
            continue
        if item.id in first_at:
            problems.append(FeedProblem(where, item.id, f"repeats the id of {first_at[item.id]}; "
                                                        "the first kept, this one skipped"))
            continue
        first_at[item.id] = where
        items.append(item)
    return Feed(tuple(items), tuple(problems))


def to_products(feed: Feed, *, now: datetime | None = None) -> list[Product]:
    """The feed's items as catalogue Products, priced as at ``now`` (the sale price within its dates).

    ``facts`` carries what a shopper may ask beyond name and price, each key only when the feed
    gives it: description, link, image_link, images (every image, the main one first),
    availability, availability_date (ISO 8601), brand, gtin, mpn, item_group_id, colours and
    materials (lists, lower case, as the bot matches them), size, pattern, product_type,
    google_product_category, currency, and regular_price while a sale price applies.
    """
    moment = now or datetime.now(UTC)
    return [_product(item, moment) for item in feed.items]


def _product(item: FeedItem, now: datetime) -> Product:
    on_sale = item.sale_price is not None and item.sale_applies(now)
    price = item.sale_price if on_sale and item.sale_price is not None else item.price
    images = [url for url in (item.image_link, *item.additional_image_links) if url]
    facts: dict[str, Any] = {
        "description": item.description,
        "link": item.link,
        "image_link": item.image_link,
        "images": images,
        "availability": item.availability.value if item.availability else None,
        "availability_date": item.availability_date.isoformat() if item.availability_date else None,
        "brand": item.brand,
        "gtin": item.gtin,
        "mpn": item.mpn,
        "item_group_id": item.item_group_id,
        "colours": [c.lower() for c in item.color],
        "size": item.size,
        "materials": [m.lower() for m in item.material],
        "pattern": item.pattern,
        "product_type": " > ".join(item.product_types[0]) if item.product_types else None,
        "google_product_category": item.google_product_category,
        "currency": price.currency,
        "regular_price": float(item.price.amount) if on_sale else None,
    }
    return Product(stock_code=item.id, name=item.title, price=float(price.amount),
                   category=_category(item),
                   facts={key: value for key, value in facts.items() if value not in (None, "", [])})


def _category(item: FeedItem) -> str:
    """The first level of the shop's own product type, else of Google's category when it is a
    path (an id such as "2271" names nothing without Google's taxonomy file)."""
    if item.product_types:
        return item.product_types[0][0]
    google = item.google_product_category or ""
    first = plain(google.split(">")[0])
    return first if first and not first.isdigit() else OTHER


# --- XML -----------------------------------------------------------------------------------------


def _xml_items(path: Path, encoding: str | None, stated: str) -> Iterator[tuple[str, Raw]]:
    # Entity declarations (billion laughs, external entities) are refused before any expansion;
    # a DOCTYPE without them is harmless and left alone.
    parser = DefusedXMLParser(target=TreeBuilder(), encoding=encoding, forbid_dtd=False,
                              forbid_entities=True, forbid_external=True)
    with path.open("rb") as f:
        try:
            yield from _walk(iterparse(f, events=("start", "end"), parser=parser), path)
        except ParseError as err:
            raise BadRequest(_parse_error(path, err, stated)) from err
        except EntitiesForbidden as err:
            raise BadRequest(f"{path.name}: the feed declares the entity {err.name!r}; entity "
                             "declarations are refused (a product feed needs none)") from err
        except ExternalReferenceForbidden as err:
            raise BadRequest(f"{path.name}: the feed refers to the external entity {err.sysid!r}; "
                             "external references are refused") from err
        except DefusedXmlException as err:
            raise BadRequest(f"{path.name}: refused: {err}") from err


def _walk(events: Iterator[tuple[str, Element]], path: Path) -> Iterator[tuple[str, Raw]]:
    """Each item's attributes as it ends; every finished element outside an item is dropped
    from its parent, so the tree never holds more than the current item."""
    open_elements: list[Element] = []
    in_item = number = 0
    for event, elem in events:
        if event == "start":
            if not open_elements and elem.tag not in _ROOTS:
                raise BadRequest(f"{path.name}: not a product feed: the root element is "
                                 f"<{_local(elem.tag)}>, not RSS 2.0 <rss> or Atom <feed>")
            open_elements.append(elem)
            in_item += elem.tag in _ITEMS
            continue
        open_elements.pop()
        if elem.tag in _ITEMS:
            in_item -= 1
            if in_item == 0:
                number += 1
                yield f"item {number}", _attributes(elem)
        if in_item == 0 and open_elements:
            open_elements[-1].remove(elem)


def _attributes(item: Element) -> Raw:
    # g: attributes first; RSS's and Atom's own title, link and description, and unprefixed
    # attribute names some exporters write, count only where the g: one is missing.
    google: dict[str, list[str]] = {}
    other: dict[str, list[str]] = {}
    for child in item:
        tag = child.tag
        if tag.startswith(G):
            name, into = tag[len(G):], google
        elif tag.startswith(ATOM):
            name, into = _ATOM_NAMES.get(tag[len(ATOM):], ""), other
        elif not tag.startswith("{"):
            name, into = tag, other
        else:
            continue
        if name == "link" and tag.startswith(ATOM):
            into.setdefault(name, []).append(child.get("href", ""))
        elif name:
            text = _text(child, as_html=name == "description") if len(child) else child.text or ""
            into.setdefault(name, []).append(text)
    return {**other, **google}


def _text(elem: Element, *, as_html: bool) -> str:
    """The text of an element with elements inside (a description written as XHTML, not as escaped
    HTML), one line per block; ``as_html``: escaped again, to be read as the HTML it was. Walked
    with a stack, since a hostile feed may nest deeper than recursion goes."""
    parts = [elem.text or ""]
    stack = [(elem, iter(elem))]
    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            if stack:
                parts.append(_block(node) + (node.tail or ""))
            continue
        if _local(child.tag) in HIDDEN:
            parts.append(child.tail or "")
            continue
        parts.append(_block(child) + (child.text or ""))
        stack.append((child, iter(child)))
    text = "".join(parts)
    return html.escape(text, quote=False) if as_html else text


def _block(elem: Element) -> str:
    return "\n" if _local(elem.tag) in BLOCKS else ""


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _parse_error(path: Path, err: ParseError, stated: str) -> str:
    line, column = err.position
    # expat counts columns from 0; people and editors from 1.
    message = f"{path.name}: not well-formed XML at line {line}, column {column + 1}: {ErrorString(err.code)}"
    try:
        bad = first_decode_error(path, stated)
    except LookupError:
        return message
    if bad is not None and bad[1] <= line:
        offset, bad_line, byte = bad
        return (f"{path.name}: byte 0x{byte:02X} at offset {offset} (line {bad_line}) is not {stated}, "
                "the encoding the file declares (UTF-8 when it declares none): save it as UTF-8, "
                "or declare its real encoding in <?xml ... encoding=\"...\"?>")
    return message


# --- TSV -----------------------------------------------------------------------------------------


def _tsv_encoding(encoding: str | None, bom: str | None) -> str:
    chosen = encoding or bom or "utf-8"
    # A UTF-8 byte-order mark is not part of the first column's name.
    return "utf-8-sig" if bom == "utf-8-sig" and codecs.lookup(chosen).name == "utf-8" else chosen


def _tsv_items(path: Path, encoding: str, problems: list[FeedProblem]) -> Iterator[tuple[str, Raw]]:
    # The csv module refuses fields over its process-wide limit (128 KiB by default), below what
    # a feed may hold; it is raised, never lowered, to the size that refuses an item.
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
    try:
        with path.open(encoding=encoding, newline="") as f:
            yield from _rows(f, path, problems)
    except UnicodeDecodeError as err:
        bad = first_decode_error(path, encoding)
        where = f"byte 0x{bad[2]:02X} at offset {bad[0]} (line {bad[1]})" if bad else str(err)
        raise BadRequest(f"{path.name}: {where} is not {encoding}: save the feed as UTF-8, "
                         "or say which encoding it is in") from err


def _rows(f: IO[str], path: Path, problems: list[FeedProblem]) -> Iterator[tuple[str, Raw]]:
    def oversized(first: int, last: int, err: csv.Error) -> None:
        # Only a field over the limit gets here (excel-tab is otherwise lenient).
        problems.append(FeedProblem(f"line {last}", None,
                                    f"a field is over {FIELD_LIMIT // (1024 * 1024)} MiB ({err}); "
                                    "row refused"))

    header: list[str] | None = None
    for line, row in csv_rows(csv.reader(f, dialect="excel-tab"), oversized):
        where = f"line {line}"
        if header is None:
            header = [_column(name) for name in row]
            missing = [name for name in _REQUIRED_COLUMNS if name not in header]
            if missing:
                raise BadRequest(f"{path.name}: {where}: the header has no {', '.join(missing)} column "
                                 "(a Merchant Center text feed is tab-separated, attribute names first)")
            continue
        extra = row[len(header):]
        if any(cell.strip() for cell in extra):
            problems.append(FeedProblem(where, None, f"the row has {len(row)} cells, the header "
                                                     f"{len(header)} (a tab inside a value?); row skipped"))
            continue
        raw: dict[str, list[str]] = {}
        for name, cell in zip(header, row, strict=False):
            # The text form's one list in a cell: up to 10 image URLs, comma-separated (a comma
            # inside a URL is written %2C there).
            for value in cell.split(",") if name == "additional_image_link" else [cell]:
                if value.strip():
                    raw.setdefault(name, []).append(value)
        yield where, raw


def _column(name: str) -> str:
    """A header cell as the attribute it names: ``Image Link``, ``g:image_link`` → ``image_link``."""
    key = re.sub(r"\s+", "_", name.strip().lower())
    key = key.removeprefix("g:")
    return "color" if key == "colour" else key


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(4096)
