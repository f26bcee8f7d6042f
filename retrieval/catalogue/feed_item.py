"""One Merchant Center item: its typed record, and the reading of one item's raw attribute values.

Names, formats and limits follow Google's product data specification (support.google.com/merchants,
answers 7052112 and the per-attribute pages: price 6324371, availability 6324448, availability date
6324470, additional image link 6324370, color 6324487, material 6324410, product type 6324406,
dates and times 12756212). An attribute that breaks its rule is left out of the item and reported;
an item missing what a catalogue record needs (id, title, price) is left out whole and reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TypeVar
from urllib.parse import urlsplit

from retrieval.catalogue.feed_text import html_to_text, plain

T = TypeVar("T")

# One attribute value longer than this (characters of text, after decoding) refuses its item:
# no shop writes a 10 MiB field, and the rest of such an item is not to be trusted either.
FIELD_LIMIT = 10 * 1024 * 1024
# A description is kept to this many characters of text once its HTML is gone (the spec allows
# 5,000; real shops go over it, so only a hostile size is cut).
DESCRIPTION_LIMIT = 64 * 1024
ID_LIMIT = 50  # spec: 1-50 characters
TITLE_LIMIT = 150  # spec: 1-150 characters
URL_LIMIT = 2000  # spec: link, image_link, additional_image_link
ADDITIONAL_IMAGES = 10  # spec: up to 10 additional images

Raw = Mapping[str, Sequence[str]]
"""An item as read: attribute name (``price``, ``additional_image_link``) to its values in order."""


class Availability(StrEnum):
    """The spec's four availability values."""

    IN_STOCK = "in_stock"
    OUT_OF_STOCK = "out_of_stock"
    PREORDER = "preorder"
    BACKORDER = "backorder"


@dataclass(frozen=True)
class Price:
    """An amount and its ISO 4217 currency (None when the feed gives the number alone)."""

    amount: Decimal
    currency: str | None

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}" if self.currency else str(self.amount)


@dataclass(frozen=True)
class FeedProblem:
    """Something left out or cut: ``where`` is ``line N`` (TSV) or ``item N`` (XML, Nth item)."""

    where: str
    item_id: str | None
    message: str


@dataclass(frozen=True)
class FeedItem:
    """One product of a Merchant Center feed, typed; absent attributes are None or empty."""

    id: str
    title: str
    price: Price
    description: str = ""
    link: str | None = None
    image_link: str | None = None
    additional_image_links: tuple[str, ...] = ()
    sale_price: Price | None = None
    # Start and end of the sale (inclusive); times without a zone are read as UTC.
    sale_price_effective_date: tuple[datetime, datetime] | None = None
    availability: Availability | None = None
    availability_date: datetime | None = None
    brand: str | None = None
    gtin: str | None = None
    mpn: str | None = None
    item_group_id: str | None = None
    color: tuple[str, ...] = ()  # "Black/Gold": the main colour first
    size: str | None = None
    material: tuple[str, ...] = ()  # "Cotton/Elastane"
    pattern: str | None = None
    # Each product type as its levels: "Home > Kitchen > Jars" is ("Home", "Kitchen", "Jars").
    product_types: tuple[tuple[str, ...], ...] = ()
    google_product_category: str | None = None  # an id ("2271") or a path ("A > B")

    def sale_applies(self, now: datetime) -> bool:
        """Whether the sale price is the price at ``now`` (an aware datetime)."""
        if self.sale_price is None:
            return False
        window = self.sale_price_effective_date
        return window is None or window[0] <= now <= window[1]


class _Reader:
    """Reads one item's attributes, reporting what it leaves out."""

    def __init__(self, raw: Raw, where: str, problems: list[FeedProblem]) -> None:
        self.raw = raw
        self.where = where
        self.problems = problems
        self.item_id: str | None = None

    def report(self, message: str) -> None:
        self.problems.append(FeedProblem(self.where, self.item_id, message))

    def first(self, name: str) -> str:
        return next((v.strip() for v in self.raw.get(name, ()) if v.strip()), "")

    def text(self, name: str) -> str | None:
        return plain(self.first(name)) or None

    def parsed(self, name: str, parse: Callable[[str], T | None], expected: str) -> T | None:
        """The attribute read by ``parse``; a value it cannot read is reported and left out."""
        value = self.first(name)
        if not value:
            return None
        result = parse(value)
        if result is None:
            self.report(f"{name} {_shown(value)} is not {expected}")
        return result

    def price(self, name: str) -> Price | None:
        return self.parsed(name, parse_price, "an amount and currency such as '15.00 GBP'")

    def url(self, name: str, value: str) -> str | None:
        if not value:
            return None
        if not is_web_url(value):
            self.report(f"{name} {_shown(value)} is not an http(s) URL of at most {URL_LIMIT} characters;"
                        " left out")
            return None
        return value


def read_item(raw: Raw, where: str, problems: list[FeedProblem]) -> FeedItem | None:
    """The item ``raw`` holds, or None (with a problem in ``problems``) when it cannot be used."""
    r = _Reader(raw, where, problems)
    identifier = r.first("id")
    if identifier and len(identifier) <= ID_LIMIT:
        r.item_id = identifier
    too_long = next((name for name, values in raw.items() for v in values if len(v) > FIELD_LIMIT), None)
    if too_long is not None:
        r.report(f"{too_long} is over {FIELD_LIMIT // (1024 * 1024)} MiB; item refused")
        return None
    if not identifier:
        r.report("no id; item skipped")
        return None
    if len(identifier) > ID_LIMIT:
        r.report(f"id {_shown(identifier)} is over {ID_LIMIT} characters; item skipped")
        return None
    title = r.text("title")
    if not title:
        r.report("no title; item skipped")
        return None
    if len(title) > TITLE_LIMIT:
        r.report(f"title over {TITLE_LIMIT} characters; cut")
        title = _cut(title, TITLE_LIMIT)
    price_text = r.first("price")
    price = parse_price(price_text) if price_text else None
    if price is None:
        r.report(f"price {_shown(price_text)} is not an amount and currency such as '15.00 GBP';"
                 " item skipped" if price_text else "no price; item skipped")
        return None
    return FeedItem(
        id=identifier, title=title, price=price,
        description=_description(r),
        link=r.url("link", r.first("link")),
        image_link=r.url("image_link", r.first("image_link")),
        additional_image_links=_additional_images(r),
        sale_price=r.price("sale_price"),
        sale_price_effective_date=_sale_window(r),
        availability=_availability(r),
        availability_date=_date(r, "availability_date"),
        brand=r.text("brand"), gtin=_gtin(r), mpn=r.text("mpn"),
        item_group_id=r.text("item_group_id"),
        color=_slashed(r.text("color")), size=r.text("size"),
        material=_slashed(r.text("material")), pattern=r.text("pattern"),
        product_types=_product_types(r),
        google_product_category=r.text("google_product_category"),
    )


_AMOUNT = re.compile(r"(?:(?P<before>[A-Za-z]{3})\s*)?(?P<amount>\d[\d.,]{0,30})\s*(?P<after>[A-Za-z]{3})?")


def parse_price(value: str) -> Price | None:
    """``15.00 GBP`` (the spec's form), also ``GBP 15.00``, ``1,299.00 USD`` or ``12,99 EUR``."""
    match = _AMOUNT.fullmatch(value.strip())
    if match is None or (match["before"] and match["after"]):
        return None
    amount = _number(match["amount"])
    if amount is None:
        return None
    currency = match["before"] or match["after"]
    return Price(amount, currency.upper() if currency else None)


def _number(text: str) -> Decimal | None:
    if "," in text and "." in text:
        # The separator written last is the decimal point; the other groups thousands.
        decimal, group = (".", ",") if text.rfind(".") > text.rfind(",") else (",", ".")
        whole, _, fraction = text.rpartition(decimal)
        if not re.fullmatch(r"\d{1,3}(?:" + re.escape(group) + r"\d{3})*", whole) or not fraction.isdigit():
            return None
        text = whole.replace(group, "") + "." + fraction
    elif "," in text:
        if re.fullmatch(r"\d+,\d{1,2}", text):
            text = text.replace(",", ".")
        elif re.fullmatch(r"\d{1,3}(?:,\d{3})+", text):
            text = text.replace(",", "")
        else:
            return None
    elif text.count(".") > 1:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def is_web_url(value: str) -> bool:
    """An absolute http(s) URL without spaces: anything else (``javascript:``) is never shown."""
    if len(value) > URL_LIMIT or any(ch.isspace() or ord(ch) < 32 for ch in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def parse_datetime(value: str, *, end_of_day: bool = False) -> datetime | None:
    """An ISO 8601 date or date-time as the spec writes it (``2016-12-25T13:00-0800``), aware.

    A date alone is the start of that day (its end, with ``end_of_day``: the spec's rule for the
    end of a range); a time without a zone is read as UTC, since the feed's country is not known.
    """
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if end_of_day and "T" not in value:
        moment = datetime.combine(moment.date(), time(23, 59, 59))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _date(r: _Reader, name: str) -> datetime | None:
    return r.parsed(name, parse_datetime, "an ISO 8601 date such as '2026-12-25T13:00-0800'")


def _sale_window(r: _Reader) -> tuple[datetime, datetime] | None:
    value = r.first("sale_price_effective_date")
    if not value:
        return None
    start_text, slash, end_text = value.partition("/")
    start = parse_datetime(start_text)
    end = parse_datetime(end_text, end_of_day=True) if slash else None
    if start is None or end is None or end < start:
        r.report(f"sale_price_effective_date {_shown(value)} is not a range 'start/end' of ISO 8601 dates")
        return None
    return start, end


_AVAILABILITY = {"in_stock": Availability.IN_STOCK, "out_of_stock": Availability.OUT_OF_STOCK,
                 "preorder": Availability.PREORDER, "backorder": Availability.BACKORDER}


def _availability(r: _Reader) -> Availability | None:
    value = r.first("availability")
    if not value:
        return None
    # The spec's older text form ("in stock") is still accepted by Google.
    key = re.sub(r"[\s-]+", "_", value.lower())
    found = _AVAILABILITY.get(key)
    if found is None:
        r.report(f"availability {_shown(value)} is none of {', '.join(_AVAILABILITY)}")
    return found


def _description(r: _Reader) -> str:
    text = html_to_text(r.first("description"))
    if len(text) > DESCRIPTION_LIMIT:
        r.report(f"description is over {DESCRIPTION_LIMIT // 1024} KiB of text; cut")
        text = _cut(text, DESCRIPTION_LIMIT)
    return text


def _additional_images(r: _Reader) -> tuple[str, ...]:
    # Repeated elements in XML, repeated columns or comma-separated in TSV (split when read).
    urls = [u.strip() for u in r.raw.get("additional_image_link", ()) if u.strip()]
    kept = [url for url in (r.url("additional_image_link", u) for u in urls) if url]
    if len(kept) > ADDITIONAL_IMAGES:
        r.report(f"{len(kept)} additional images; the first {ADDITIONAL_IMAGES} kept")
    return tuple(kept[:ADDITIONAL_IMAGES])


def _product_types(r: _Reader) -> tuple[tuple[str, ...], ...]:
    # Several product types are repeated elements, or comma-separated in one value (the spec
    # forbids commas inside one product type); levels are separated by ">".
    paths = []
    for value in r.raw.get("product_type", ()):
        # Decoded before it is split: an escaped "&gt;" inside CDATA is still a level separator.
        for one in plain(value).split(","):
            levels = tuple(level for level in (plain(x) for x in one.split(">")) if level)
            if levels:
                paths.append(levels)
    return tuple(paths)


def _slashed(value: str | None) -> tuple[str, ...]:
    return tuple(part for part in (p.strip() for p in value.split("/")) if part) if value else ()


def _gtin(r: _Reader) -> str | None:
    value = r.first("gtin")
    if not value:
        return None
    digits = re.sub(r"[\s-]", "", value)
    if not (digits.isascii() and digits.isdigit() and len(digits) in (8, 12, 13, 14)) or not _gs1_ok(digits):
        r.report(f"gtin {_shown(value)} is not a GTIN-8, -12, -13 or -14 with a valid check digit")
        return None
    return digits


def _gs1_ok(digits: str) -> bool:
    # GS1 check digit: weights 3 and 1 alternate from the digit before the check digit.
    body = [int(d) for d in reversed(digits[:-1])]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(body))
    return (10 - total % 10) % 10 == int(digits[-1])


def _cut(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, ending "…", at a word's end when one is near."""
    head = text[: limit - 1]
    space = max(head.rfind(" ", limit - 200), head.rfind("\n", limit - 200))
    return (head[:space] if space > 0 else head).rstrip() + "…"


def _shown(value: str) -> str:
    """A feed value quoted in a message, short and on one line (it may be hostile)."""
    one_line = plain(value)
    return repr(one_line if len(one_line) <= 60 else one_line[:57] + "...")
