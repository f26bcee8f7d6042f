"""One Shopify product variant, as the CSV export and the Admin API both give it, made a Product.

Shopify sells variants (a size, a colour) of a product; the catalogue holds one Product per variant.
The variant is checked and mapped by the Merchant Center item reader (``read_item``) and
``to_products``, so a Shopify product gets the same limits (title, description, URLs, GTIN) and the
same ``facts`` keys as a feed item, plus ``stock_quantity`` when Shopify tracks the variant's stock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from core.shop import Product
from retrieval.catalogue.feed_item import FeedProblem, read_item
from retrieval.catalogue.merchant_feed import Feed, to_products
from retrieval.catalogue.source import CatalogueRead

# Shopify's own limits on a SKU and a handle (characters); a longer one is not from Shopify.
STOCK_CODE_LIMIT = 255
HANDLE_LIMIT = 255
# What Shopify names the one option of a product without variants.
DEFAULT_TITLE = "Default Title"
# A product page may show up to 250 images; the chat shows one and offers a few more.
IMAGES_KEPT = 11
# The option names (lower case) that say a variant's colour, size, material or pattern, as the
# Merchant Center attribute each one fills.
_OPTION_ATTRIBUTES = {"color": "color", "colour": "color", "size": "size", "material": "material",
                      "fabric": "material", "pattern": "pattern"}
# read_item wants an id within Google's 50 characters; a Shopify SKU may be longer, so the item
# is read under this stand-in and the Product takes the real stock code afterwards.
_STAND_IN_ID = "shopify-variant"


@dataclass(frozen=True)
class ShopifyVariant:
    """One variant with its product's shared fields, as read (text, not yet checked).

    ``inventory`` is the quantity when Shopify tracks the variant's stock (``tracked``); a tracked
    variant whose quantity was unreadable has ``inventory`` None and no availability.
    """

    handle: str
    title: str
    price: str
    options: tuple[tuple[str, str], ...] = ()  # (option name, value), in Shopify's order
    sku: str = ""
    compare_at_price: str = ""
    description_html: str = ""
    vendor: str = ""
    product_type: str = ""
    category: str = ""  # Shopify's taxonomy path, "Apparel & Accessories > Clothing > Shirts"
    barcode: str = ""
    mpn: str = ""
    tracked: bool = False
    inventory: int | None = None
    continue_selling: bool = False  # Shopify's inventory policy "continue" (else "deny")
    image: str = ""  # the variant's own image
    product_images: tuple[str, ...] = ()  # the product's images in position order
    link: str = ""

    def stock_code(self) -> str:
        """The SKU, else the handle and the option values (``tee-blue-m``), as Shopify shows none."""
        if self.sku.strip():
            return self.sku.strip()
        values = [_slug(value) for value in self.option_values()]
        return "-".join([self.handle, *(v for v in values if v)])

    def option_values(self) -> list[str]:
        """The values that tell this variant from its siblings (none for a "Default Title")."""
        values = (value.strip() for _, value in self.options)
        return [value for value in values if value and value != DEFAULT_TITLE]

    def name(self) -> str:
        """``Title - Blue / M`` (Shopify's variant title after the product's), or the title alone."""
        values = self.option_values()
        return f"{self.title} - {' / '.join(values)}" if values else self.title


def to_product(variant: ShopifyVariant, where: str, *, currency: str | None = None,
               now: datetime | None = None) -> tuple[Product | None, list[str]]:
    """The variant as a catalogue Product (None when it cannot be used), and one line for each
    thing left out or cut, naming ``where`` and the stock code."""
    code = variant.stock_code()
    if len(code) > STOCK_CODE_LIMIT:
        return None, [f"{where} (handle {_shown(variant.handle)}): stock code over {STOCK_CODE_LIMIT} "
                      "characters; variant skipped"]
    problems: list[FeedProblem] = []
    item = read_item(_raw(variant, currency), where, problems)
    messages = [f"{p.where} (id {code!r}): {p.message}" for p in problems]
    if item is None:
        return None, messages
    product = to_products(Feed((item,), ()), now=now)[0]
    facts = dict(product.facts)
    if variant.tracked and variant.inventory is not None:
        # An oversold variant (sold on with policy "continue") has a negative count: none in stock.
        facts["stock_quantity"] = max(variant.inventory, 0)
    return replace(product, stock_code=code, facts=facts), messages


def _raw(variant: ShopifyVariant, currency: str | None) -> dict[str, list[str]]:
    suffix = f" {currency}" if currency else ""
    price, compare = variant.price.strip(), variant.compare_at_price.strip()
    raw: dict[str, list[str]] = {"id": [_STAND_IN_ID], "title": [variant.name()],
                                 "description": [variant.description_html]}
    if price:
        raw["price"] = [price + suffix]
    if price and compare and _above(compare, price):
        # Shopify's compare-at price is the regular price of a variant on sale.
        raw["price"], raw["sale_price"] = [compare + suffix], [price + suffix]
    image = variant.image.strip() or next((u for u in variant.product_images if u.strip()), "")
    more = [u for u in variant.product_images if u.strip() and u != image]
    raw.update({
        "link": [variant.link],
        "image_link": [image],
        "additional_image_link": more[: IMAGES_KEPT - 1],
        "brand": [variant.vendor],
        "gtin": [variant.barcode] if _looks_like_gtin(variant.barcode) else [],
        "mpn": [variant.mpn],
        "availability": [_availability(variant) or ""],
        "item_group_id": [variant.handle],
        # Commas separate product types in Merchant Center; in Shopify's Type they are text.
        "product_type": [(variant.product_type or variant.category).replace(",", " ")],
    })
    for option, value in variant.options:
        attribute = _OPTION_ATTRIBUTES.get(option.strip().lower())
        if attribute and value.strip() and value.strip() != DEFAULT_TITLE:
            raw.setdefault(attribute, []).append(value)
    return raw


def _availability(variant: ShopifyVariant) -> str | None:
    """Shopify's rule: an untracked variant is always for sale; a tracked one at 0 or below is
    sold out, unless the shop sells on (policy "continue"), which is a backorder."""
    if not variant.tracked:
        return "in_stock"
    if variant.inventory is None:
        return None
    if variant.inventory > 0:
        return "in_stock"
    return "backorder" if variant.continue_selling else "out_of_stock"


def _above(compare: str, price: str) -> bool:
    try:
        return float(compare) > float(price)
    except ValueError:
        return False


def _looks_like_gtin(barcode: str) -> bool:
    # Shopify's barcode field also holds a shop's own codes (ISBN-10, internal labels): only what
    # has a GTIN's length and digits goes to read_item, which checks the check digit and says so.
    digits = re.sub(r"[\s-]", "", barcode)
    return digits.isascii() and digits.isdigit() and len(digits) in (8, 12, 13, 14)


def _slug(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def to_read(variants: Iterable[tuple[str, ShopifyVariant, str | None]], skipped: list[str]) -> CatalogueRead:
    """The products of ``(where, variant, currency)`` in order, a repeated stock code kept once
    (the first); every variant left out or cut is named in ``skipped`` (appended to)."""
    products: list[Product] = []
    first_at: dict[str, str] = {}
    for where, variant, currency in variants:
        product, problems = to_product(variant, where, currency=currency)
        skipped.extend(problems)
        if product is None:
            continue
        if product.stock_code in first_at:
            skipped.append(f"{where} (id {product.stock_code!r}): repeats the stock code of "
                           f"{first_at[product.stock_code]}; the first kept, this one skipped")
            continue
        first_at[product.stock_code] = where
        products.append(product)
    return CatalogueRead(tuple(products), tuple(skipped))
