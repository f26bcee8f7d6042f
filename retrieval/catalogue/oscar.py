"""The catalogue of a django-oscar shop, read through django-oscar-api's public REST API.

Read: every page of ``/api/products/``, each product's detail (attributes, images, categories,
children), and for each purchasable product (standalone or a child variant, never a parent) its
``price/`` and ``availability/`` as the shop's pricing strategy gives them now. One ``Product``
per purchasable item; a child takes its parent's description, images and categories where it has
none of its own, and the parent's id as ``item_group_id``.

URLs are built from the configured base URL and the ids the API gives, never followed from the
hyperlinks it sends (behind a proxy they name the host Django saw, and a token must not go to a
host that was not configured). Image URLs are kept as the shop gives them, made absolute.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import aiohttp

from core.errors import BadRequest, Unavailable
from core.shop import Product
from retrieval.catalogue.feed_item import DESCRIPTION_LIMIT
from retrieval.catalogue.feed_text import html_to_text, plain
from retrieval.catalogue.source import CatalogueRead
from retrieval.prepare import OTHER

T = TypeVar("T")
# One answer larger than this is not a product page: refused rather than read into memory.
MAX_BODY_BYTES = 10 * 1024 * 1024
# A loop of "next" links, or a catalogue far beyond any shop's, ends the read.
MAX_PAGES = 10_000
# Attribute codes (lower case) that carry the Merchant Center facts.
_COLOURS = ("colour", "color", "colours", "colors")
_MATERIALS = ("material", "materials")


class _Gone(Exception):
    """The product was deleted between the listing and its detail (HTTP 404)."""


@dataclass(frozen=True)
class _Item:
    """A purchasable product's detail with what it takes from its parent."""

    detail: Mapping[str, Any]
    parent: Mapping[str, Any] | None


class OscarCatalogue:
    """The whole catalogue of the Oscar shop at ``base_url`` (its storefront's root URL).

    ``token``: a django-oscar-api token, sent as ``Authorization: Token ...`` when the shop's
    product API asks for one (the public API usually does not). ``api_path``: where the shop
    mounts django-oscar-api. ``product_page``: the storefront path of a product, ``{id}`` filled
    in; Oscar's default answers ``/catalogue/_{id}/`` with a redirect to the product's page.
    Each request has ``timeout_s``; ``concurrency`` requests at most run at once.
    """

    def __init__(self, base_url: str, *, token: str | None = None, api_path: str = "/api/",
                 product_page: str = "/catalogue/_{id}/", timeout_s: float = 10.0,
                 concurrency: int = 8) -> None:
        self.base_url = base_url.rstrip("/")
        self._api = self.base_url + "/" + api_path.strip("/") + "/"
        self._token = token
        self.product_page = product_page
        self.timeout_s = timeout_s
        self.concurrency = concurrency

    def __repr__(self) -> str:
        # Never the token.
        return f"OscarCatalogue({self.base_url!r})"

    @property
    def name(self) -> str:
        """``oscar:<base URL>``."""
        return f"oscar:{self.base_url}"

    def read(self) -> CatalogueRead:
        """Every purchasable product now (blocking: call it off the event loop)."""
        return asyncio.run(self._read())

    async def _read(self) -> CatalogueRead:
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Token {self._token}"
        gate = asyncio.Semaphore(self.concurrency)
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:

            async def get(url: str) -> Any:
                async with gate:
                    return await self._get(session, url)

            listed = await self._listing(get)
            skipped: list[str] = []
            details = await _all(get, [self._api + f"products/{pid}/" for pid in listed], listed, skipped)
            items = _purchasable(details)
            priced = await _all(get, [self._api + f"products/{pid}/price/" for pid in items], list(items),
                                skipped)
            stock = await _all(get, [self._api + f"products/{pid}/availability/" for pid in items],
                               list(items), skipped)
        products = []
        for pid, item in items.items():
            if pid not in priced or pid not in stock:
                continue
            product = self._product(pid, item, priced[pid], stock[pid], skipped)
            if product is not None:
                products.append(product)
        return CatalogueRead(tuple(products), tuple(skipped))

    async def _listing(self, get: Callable[[str], Awaitable[Any]]) -> list[int]:
        """Every product id, in the API's order, across its pages."""
        ids: list[int] = []
        url: str | None = self._api + "products/"
        for _ in range(MAX_PAGES):
            if url is None:
                return list(dict.fromkeys(ids))
            page = await get(url)
            rows, following = _page(page, url)
            for row in rows:
                try:
                    ids.append(int(row["id"]))
                except (KeyError, TypeError, ValueError) as err:
                    raise BadRequest(f"{self.name}: a product in the listing has no id ({url})") from err
            # Only the query of the "next" link is taken: the page asked of the configured host.
            url = self._api + "products/?" + urlsplit(following).query if following else None
        raise BadRequest(f"{self.name}: the product listing goes on past {MAX_PAGES} pages")

    async def _get(self, session: aiohttp.ClientSession, url: str) -> Any:
        try:
            async with session.get(url, allow_redirects=False) as response:
                if response.status == 404:
                    raise _Gone(url)
                if response.status != 200:
                    raise Unavailable(f"{self.name}: {urlsplit(url).path} answered HTTP {response.status}")
                if (response.content_length or 0) > MAX_BODY_BYTES:
                    raise BadRequest(f"{self.name}: {urlsplit(url).path}: answer over "
                                     f"{MAX_BODY_BYTES // (1024 * 1024)} MiB")
                body = await response.content.read(MAX_BODY_BYTES + 1)
                if len(body) > MAX_BODY_BYTES:
                    raise BadRequest(f"{self.name}: {urlsplit(url).path}: answer over "
                                     f"{MAX_BODY_BYTES // (1024 * 1024)} MiB")
                return _json(body, f"{self.name}: {urlsplit(url).path}")
        except TimeoutError as err:
            raise Unavailable(f"{self.name}: no answer within {self.timeout_s:g} s") from err
        except aiohttp.ClientError as err:
            raise Unavailable(f"{self.name}: cannot reach the shop ({type(err).__name__})") from err

    def _product(self, pid: int, item: _Item, price: Any, stock: Any, skipped: list[str]) -> Product | None:
        detail, parent = item.detail, item.parent
        where = f"product {pid}"
        title = plain(str(detail.get("title") or ""))
        if not title:
            skipped.append(f"{where}: no title")
            return None
        amount = _amount(price)
        if amount is None:
            skipped.append(f"{where} ({title!r}): no price")
            return None
        attributes = _attributes(detail)
        # A child variant shows its parent's pictures, text and place in the shop unless it has its own.
        shown = [detail, *([parent] if parent else [])]
        images = next((found for d in shown if (found := _images(d, self.base_url))), [])
        categories = next((found for d in shown if (found := _strings(d.get("categories")))), [])
        description = next((text for d in shown if (text := html_to_text(str(d.get("description") or "")))),
                           "")
        quantity = stock.get("num_available") if isinstance(stock, Mapping) else None
        facts: dict[str, Any] = {
            "description": description[:DESCRIPTION_LIMIT],
            "link": self.base_url + self.product_page.format(id=pid),
            "image_link": images[0] if images else None,
            "images": images,
            "availability": _availability(stock),
            "brand": _first(attributes, ("brand",)),
            "item_group_id": str(parent["id"]) if parent else None,
            "colours": [c.lower() for c in _values(attributes, _COLOURS)],
            "size": _first(attributes, ("size",)),
            "materials": [m.lower() for m in _values(attributes, _MATERIALS)],
            "product_type": categories[0] if categories else None,
            "currency": str(price.get("currency") or "") or None,
            "stock_quantity": int(quantity) if isinstance(quantity, int) else None,
        }
        category = plain(categories[0].split(">")[0]) if categories else ""
        return Product(stock_code=str(pid), name=title, price=float(amount), category=category or OTHER,
                       facts={key: value for key, value in facts.items() if value not in (None, "", [])})


async def _all(get: Callable[[str], Awaitable[Any]], urls: list[str], ids: list[int],
               skipped: list[str]) -> dict[int, Any]:
    """``get`` every URL at once; by id, without those deleted meanwhile (noted in ``skipped``).
    The first failure ends the read, with the requests still running cancelled."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_or_gone(get, url)) for url in urls]
    except ExceptionGroup as failed:
        raise _first_error(failed) from None
    found = {}
    for pid, task in zip(ids, tasks, strict=True):
        answer = task.result()
        if answer is _GONE:
            skipped.append(f"product {pid}: deleted while the catalogue was read")
        else:
            found[pid] = answer
    return found


_GONE = object()


def _first_error(failed: BaseExceptionGroup[Any]) -> BaseException:
    """The first Shopbot error of a failed batch (an unexpected one: the whole group)."""
    for error in failed.exceptions:
        if isinstance(error, BaseExceptionGroup):
            return _first_error(error)
        if isinstance(error, BadRequest | Unavailable):
            return error
    return failed


async def _or_gone(get: Callable[[str], Awaitable[T]], url: str) -> T | object:
    try:
        return await get(url)
    except _Gone:
        return _GONE


def _purchasable(details: Mapping[int, Any]) -> dict[int, _Item]:
    """Standalone products and child variants, each with its parent's detail (parents left out)."""
    parent_of: dict[int, Mapping[str, Any]] = {}
    for detail in details.values():
        if isinstance(detail, Mapping) and detail.get("structure") == "parent":
            for child in detail.get("children") or []:
                if isinstance(child, Mapping) and isinstance(child.get("id"), int):
                    parent_of[child["id"]] = detail
    return {pid: _Item(detail, parent_of.get(pid)) for pid, detail in details.items()
            if isinstance(detail, Mapping) and detail.get("structure") in ("standalone", "child")}


def _page(page: Any, url: str) -> tuple[list[Mapping[str, Any]], str | None]:
    """The rows of one listing page and its ``next`` link (a shop without pagination: a list)."""
    if isinstance(page, list):
        return page, None
    if isinstance(page, Mapping) and isinstance(page.get("results"), list):
        following = page.get("next")
        return page["results"], following if isinstance(following, str) and following else None
    raise BadRequest(f"{url}: not a product listing")


def _json(body: bytes, where: str) -> Any:
    try:
        return json.loads(body)
    except ValueError as err:
        raise BadRequest(f"{where}: the answer is not JSON") from err


def _amount(price: Any) -> Decimal | None:
    """What a shopper pays: the price with tax when the shop knows it, else without."""
    if not isinstance(price, Mapping):
        return None
    for key in ("incl_tax", "excl_tax"):
        value = price.get(key)
        if value is None or value == "":
            continue
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            return None
        return amount if amount.is_finite() and amount >= 0 else None
    return None


def _availability(stock: Any) -> str | None:
    """Oscar says whether it can be bought now and, when it counts stock, how many: bought with
    none on the shelf is a back order."""
    if not isinstance(stock, Mapping) or not isinstance(stock.get("is_available_to_buy"), bool):
        return None
    if not stock["is_available_to_buy"]:
        return "out_of_stock"
    count = stock.get("num_available")
    return "backorder" if isinstance(count, int) and count <= 0 else "in_stock"


def _attributes(detail: Mapping[str, Any]) -> dict[str, Any]:
    """Attribute values by lower-case code (a child's include its parent's)."""
    found: dict[str, Any] = {}
    for attribute in detail.get("attributes") or []:
        if isinstance(attribute, Mapping):
            code = str(attribute.get("code") or attribute.get("name") or "").strip().lower()
            if code and code not in found:
                found[code] = attribute.get("value")
    return found


def _values(attributes: Mapping[str, Any], codes: tuple[str, ...]) -> list[str]:
    for code in codes:
        value = attributes.get(code)
        values = value if isinstance(value, list) else [value]
        texts = [plain(str(v)) for v in values if isinstance(v, str | int | float) and plain(str(v))]
        if texts:
            return texts
    return []


def _first(attributes: Mapping[str, Any], codes: tuple[str, ...]) -> str | None:
    values = _values(attributes, codes)
    return values[0] if values else None


def _strings(value: Any) -> list[str]:
    return [plain(v) for v in value if isinstance(v, str) and plain(v)] if isinstance(value, list) else []


def _images(detail: Mapping[str, Any] | None, base_url: str) -> list[str]:
    """Absolute http(s) URLs of the product's images, in the shop's display order."""
    rows = [row for row in (detail or {}).get("images") or [] if isinstance(row, Mapping)]
    rows.sort(key=lambda row: row["display_order"] if isinstance(row.get("display_order"), int) else 0)
    urls = []
    for row in rows:
        original = row.get("original")
        if isinstance(original, str) and original:
            url = urljoin(base_url + "/", original)
            if urlsplit(url).scheme in ("http", "https"):
                urls.append(url)
    return urls
