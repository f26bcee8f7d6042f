"""Read Shopify's product CSV export (Admin > Products > Export) as catalogue Products.

The format is Shopify's (help.shopify.com, "Using CSV files to import and export products"): a
header row, then one row per product whose later rows, with the same Handle and no Title, carry
its further variants and images. Both generations of column names are read: the long-standing
ones (``Handle``, ``Body (HTML)``, ``Variant SKU``, ``Variant Inventory Qty``, ``Variant Inventory
Policy``, ``Variant Price``, ``Image Src``...) and the current export's (``URL handle``,
``Description``, ``SKU``, ``Inventory quantity``, ``Continue selling when out of stock``,
``Price``, ``Product image URL``...).

The file is untrusted and read as a stream, one product's rows at a time. Bytes that are not in
the file's encoding (UTF-8, Shopify's) or a header that is not Shopify's refuse the whole file
with ``BadRequest`` naming the line; a bad row or product is left out and listed in ``skipped``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import quote

from core.errors import BadRequest
from retrieval.catalogue.feed_item import FIELD_LIMIT, URL_LIMIT, is_web_url
from retrieval.catalogue.feed_text import csv_rows, first_decode_error, plain
from retrieval.catalogue.shopify_variant import HANDLE_LIMIT, ShopifyVariant, to_read
from retrieval.catalogue.source import CatalogueRead

# Shopify's own limits: variants per product (since 2024) and images per product.
MAX_VARIANTS = 2048
MAX_IMAGES = 250
_OPTIONS = (1, 2, 3)

# Header (lower case, spaces squeezed) to the field it fills; old and current export names.
_COLUMNS = {
    "handle": "handle", "url handle": "handle",
    "title": "title",
    "body (html)": "body", "description": "body",
    "vendor": "vendor",
    "product category": "category",
    "type": "type",
    "published": "published", "published on online store": "published",
    "status": "status",
    "variant sku": "sku", "sku": "sku",
    "variant inventory tracker": "tracker", "inventory tracker": "tracker",
    "variant inventory qty": "qty", "inventory quantity": "qty",
    "variant inventory policy": "policy", "continue selling when out of stock": "policy",
    "variant price": "price", "price": "price",
    "variant compare at price": "compare", "compare-at price": "compare",
    "variant barcode": "barcode", "barcode": "barcode",
    "image src": "image", "product image url": "image",
    "image position": "image_position",
    "variant image": "variant_image", "variant image url": "variant_image",
    "google shopping / mpn": "mpn",
    **{f"option{n} name": f"option{n}_name" for n in _OPTIONS},
    **{f"option{n} value": f"option{n}_value" for n in _OPTIONS},
}
_REQUIRED = (("handle", "Handle (or URL handle)"), ("title", "Title"), ("price", "Variant Price (or Price)"))
# Fields a row carries only for a variant; a continuation row with none of them is an image row.
_VARIANT_FIELDS = ("sku", "price", "qty", "option1_value", "option2_value", "option3_value")
_HIDDEN_STATUSES = {"draft", "archived", "unlisted"}
_WHOLE = re.compile(r"[+-]?\d{1,12}")

Row = dict[str, str]


class ShopifyCsv:
    """A Shopify product CSV export at ``path``; ``shop_url`` (``https://shop.example``) makes each
    product's link ``{shop_url}/products/{handle}``. ``currency`` (ISO 4217, the shop's) labels
    the prices, which the export gives as bare numbers; ``encoding`` overrides UTF-8."""

    def __init__(self, path: Path, shop_url: str | None = None, *, currency: str | None = None,
                 encoding: str | None = None) -> None:
        if shop_url is not None and not is_web_url(shop_url):
            raise BadRequest(f"shop URL {shop_url[:80]!r} is not an http(s) URL")
        if currency is not None and not re.fullmatch(r"[A-Za-z]{3}", currency):
            raise BadRequest(f"currency {currency[:20]!r} is not an ISO 4217 code such as 'GBP'")
        self.path = path
        self.shop_url = shop_url.rstrip("/") if shop_url else None
        self.currency = currency.upper() if currency else None
        self.encoding = encoding

    @property
    def name(self) -> str:
        """``shopify-csv:{file name}``."""
        return f"shopify-csv:{self.path.name}"

    def read(self) -> CatalogueRead:
        """Every published, active variant in the export; what was left out, by line."""
        skipped: list[str] = []
        return to_read(((where, variant, self.currency) for where, variant in self._variants(skipped)),
                       skipped)

    # --- reading ---------------------------------------------------------------------------------

    def _variants(self, skipped: list[str]) -> Iterator[tuple[str, ShopifyVariant]]:
        encoding = self.encoding or "utf-8-sig"
        # The csv module's default field limit (128 KiB) is below what a description may hold;
        # it is raised, never lowered, to the size that refuses a row.
        csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
        try:
            with self.path.open(encoding=encoding, newline="") as f:
                for product in self._products(f, skipped):
                    yield from product.variants(self, skipped)
        except UnicodeDecodeError as err:
            raise BadRequest(self._decode_error(encoding)) from err
        except LookupError as err:
            raise BadRequest(f"{self.path.name}: {encoding!r} is not an encoding Python knows") from err

    def _products(self, f: IO[str], skipped: list[str]) -> Iterator[_Product]:
        header: list[str] | None = None
        current: _Product | None = None
        seen: dict[str, int] = {}
        for line, row in _rows(f, self.path, skipped):
            if header is None:
                header = self._header(row, line)
                continue
            if len(row) > len(header) and any(cell.strip() for cell in row[len(header):]):
                skipped.append(f"line {line}: {len(row)} cells, the header has {len(header)} "
                               "(an unquoted comma?); row skipped")
                continue
            cells = {key: cell for key, cell in zip(header, row, strict=False) if key}
            handle, title = cells.get("handle", "").strip(), plain(cells.get("title", ""))
            if current is not None and handle and handle == current.handle:
                current.add(line, cells, skipped)
                continue
            if current is not None:
                yield current
                current = None
            if not title:
                shown = f" (handle {handle[:60]!r})" if handle else ""
                skipped.append(f"line {line}{shown}: no Title, and not after a row of its handle; "
                               "row skipped")
                continue
            handle = handle or _slug(title)
            if len(handle) > HANDLE_LIMIT:
                skipped.append(f"line {line}: handle over {HANDLE_LIMIT} characters; product skipped")
                current = _Product(line, handle, cells, hidden=True)
                continue
            hidden = handle in seen or _hidden(cells)
            if handle in seen:
                skipped.append(f"line {line} (handle {handle!r}): repeats the handle of line "
                               f"{seen[handle]}; the first kept, this one skipped")
            elif hidden:
                skipped.append(f"line {line} (handle {handle!r}): {_why_hidden(cells)}; "
                               "not for sale, left out")
            else:
                seen[handle] = line
            current = _Product(line, handle, cells, hidden=hidden)
            current.add(line, cells, skipped)
        if header is None:
            raise BadRequest(f"{self.path.name}: the file is empty")
        if current is not None:
            yield current

    def _header(self, row: list[str], line: int) -> list[str]:
        header = [_COLUMNS.get(re.sub(r"\s+", " ", cell.strip().lower()), "") for cell in row]
        missing = [label for key, label in _REQUIRED if key not in header]
        if missing:
            raise BadRequest(f"{self.path.name}: line {line}: the header has no {', '.join(missing)} "
                             "column (is this Shopify's product CSV export?)")
        return header

    def _decode_error(self, encoding: str) -> str:
        bad = first_decode_error(self.path, encoding)
        where = (f"byte 0x{bad[2]:02X} at offset {bad[0]} (line {bad[1]})" if bad
                 else "the file")
        return (f"{self.path.name}: {where} is not {encoding.removesuffix('-sig').upper()}: Shopify "
                "exports UTF-8; save the file as UTF-8, or say which encoding it is in")

    def link(self, handle: str) -> str:
        """The product's page on the shop, when the shop's URL is known."""
        return f"{self.shop_url}/products/{quote(handle, safe='')}" if self.shop_url else ""


@dataclass
class _Variant:
    line: int
    cells: Row


@dataclass
class _Product:
    """One product's rows as read: its first row's fields, its variants, its images."""

    line: int
    handle: str
    first: Row
    hidden: bool = False
    rows: list[_Variant] = field(default_factory=list)
    images: list[tuple[float, int, str]] = field(default_factory=list)  # (position, order, URL)
    too_many: bool = False

    def add(self, line: int, cells: Row, skipped: list[str]) -> None:
        if self.hidden:
            return
        image = cells.get("image", "").strip()
        if image and len(self.images) < MAX_IMAGES and len(image) <= URL_LIMIT:
            self.images.append((_position(cells.get("image_position", "")), len(self.images), image))
        if not (line == self.line or any(cells.get(key, "").strip() for key in _VARIANT_FIELDS)):
            return
        if len(self.rows) >= MAX_VARIANTS:
            if not self.too_many:
                skipped.append(f"line {line} (handle {self.handle!r}): over {MAX_VARIANTS} variants, "
                               "Shopify's most; the rest skipped")
                self.too_many = True
            return
        self.rows.append(_Variant(line, cells))

    def variants(self, source: ShopifyCsv, skipped: list[str]) -> Iterator[tuple[str, ShopifyVariant]]:
        if self.hidden:
            return
        first = self.first
        images = tuple(url for _, _, url in sorted(self.images))
        names = [plain(first.get(f"option{n}_name", "")) for n in _OPTIONS]
        for row in self.rows:
            cells = row.cells
            where = f"line {row.line}"
            tracked, inventory = _inventory(cells, where, self.handle, skipped)
            yield where, ShopifyVariant(
                handle=self.handle,
                title=plain(first.get("title", "")),
                price=cells.get("price", ""),
                options=tuple((name, plain(cells.get(f"option{n}_value", "")))
                              for n, name in zip(_OPTIONS, names, strict=True) if name),
                sku=plain(cells.get("sku", "")),
                compare_at_price=cells.get("compare", ""),
                description_html=first.get("body", ""),
                vendor=first.get("vendor", ""),
                product_type=plain(first.get("type", "")),
                category=plain(first.get("category", "")),
                barcode=cells.get("barcode", ""),
                mpn=cells.get("mpn", ""),
                tracked=tracked,
                inventory=inventory,
                continue_selling=cells.get("policy", "").strip().lower() in ("continue", "true", "yes"),
                image=cells.get("variant_image", "").strip(),
                product_images=images,
                link=source.link(self.handle),
            )


def _rows(f: IO[str], path: Path, skipped: list[str]) -> Iterator[tuple[int, list[str]]]:
    """Each non-blank row with the line it starts on."""

    def oversized(first: int, last: int, err: csv.Error) -> None:
        skipped.append(f"line {first}: a field is over {FIELD_LIMIT // (1024 * 1024)} MiB ({err}); "
                       "row skipped")

    return csv_rows(csv.reader(f, dialect="excel"), oversized)


def _inventory(cells: Row, where: str, handle: str, skipped: list[str]) -> tuple[bool, int | None]:
    """(tracked, quantity): Shopify tracks a variant's stock when its tracker is named ("shopify");
    an export without the tracker column is taken as tracked where it gives a quantity."""
    qty = cells.get("qty", "").strip()
    tracker = cells.get("tracker")
    tracked = bool(tracker.strip()) if tracker is not None else bool(qty)
    if not tracked:
        return False, None
    if _WHOLE.fullmatch(qty):
        return True, int(qty)
    skipped.append(f"{where} (handle {handle!r}): inventory quantity {qty[:20]!r} is not a whole "
                   "number; availability left out")
    return True, None


def _hidden(cells: Row) -> bool:
    status = cells.get("status", "").strip().lower()
    return status in _HIDDEN_STATUSES or cells.get("published", "").strip().lower() == "false"


def _why_hidden(cells: Row) -> str:
    status = cells.get("status", "").strip().lower()
    return f"status {status}" if status in _HIDDEN_STATUSES else "not published (Published FALSE)"


def _position(value: str) -> float:
    value = value.strip()
    return float(value) if value.isdigit() else float("inf")


def _slug(title: str) -> str:
    """The handle Shopify makes of a title when the row gives none."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:HANDLE_LIMIT] or "product"
