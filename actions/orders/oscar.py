"""Orders from a django-oscar shop, asked through django-oscar-api's admin API at question time.

django-oscar-api 3.3 reads an order by its database id, not by the number a shopper quotes, and
its order list has no filter: the list is read newest first, page by page, until the number is
found or the list ends (most questions are about recent orders: the first page). Lines come from
the order's lines list, each line's product name from the public product API, the country's
name from the countries API. Nothing is kept after the call returns.

The API user needs ``is_staff`` and only ``order.view_order`` and ``order.view_line``; it signs
in with a DRF token (``Authorization: Token ...``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from actions.orders.breaker import CircuitBreaker, through
from actions.orders.http_json import CURRENCIES, MAX_BODY_BYTES
from actions.orders.http_session import LoopSession
from actions.services import normalise_order_id
from core.errors import Unavailable
from core.shop import Order, OrderLine

log = logging.getLogger(__name__)

NOT_KNOWN = "not known yet"
# An order list longer than this many pages is not walked further (a loop of "next" links).
MAX_PAGES = 10_000
_ID_IN = {kind: re.compile(rf"/{kind}/([^/]+)/?$") for kind in ("products", "users", "countries")}


class Retry(Exception):
    """This try failed in a way another try may not (5xx, 429, timeout, no connection)."""


class Gone(Exception):
    """The API answered 404."""


def id_in(url: object, kind: str) -> str | None:
    """The id at the end of an API hyperlink: ``.../api/products/7/`` → ``"7"`` for ``products``."""
    if not isinstance(url, str):
        return None
    found = _ID_IN[kind].search(urlsplit(url).path)
    return found[1] if found else None


def amount(value: object) -> Decimal:
    """A money field of the API as a Decimal (``Unavailable`` when it is not one)."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise Unavailable("the shop's order system sent a malformed amount") from None
    if not number.is_finite() or number < 0:
        raise Unavailable("the shop's order system sent a malformed amount")
    return number


def placed_at(value: object) -> datetime:
    """``date_placed`` as an aware datetime (``Unavailable`` when it is not one)."""
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        raise Unavailable("the shop's order system sent a malformed date") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class OscarApi:
    """GETs of django-oscar-api as one token's user; URLs are built from the configured base
    (the hyperlinks the API sends name the host Django saw; only ids and queries are taken)."""

    def __init__(self, base_url: str, token: str, api_path: str = "/api/") -> None:
        self.base_url = base_url.rstrip("/")
        self.api = self.base_url + "/" + api_path.strip("/") + "/"
        self._token = token

    async def get(self, session: aiohttp.ClientSession, path: str) -> Any:
        """The JSON answer for ``path`` under the API root; ``Gone`` on 404, ``Retry`` for what
        may pass, ``Unavailable`` for a refusal or a malformed answer."""
        headers = {"Authorization": f"Token {self._token}", "Accept": "application/json"}
        try:
            async with session.get(self.api + path, headers=headers, allow_redirects=False) as response:
                status = response.status
                if status == 404:
                    raise Gone(path)
                if status >= 500 or status == 429:
                    raise Retry(f"HTTP {status}")
                if status != 200:
                    log.error("Oscar API at %s refused: HTTP %d (a wrong token, or a user without "
                              "order.view_order and order.view_line?)", self.base_url, status)
                    raise Unavailable(f"the shop's order system answered HTTP {status}")
                body = await response.content.read(MAX_BODY_BYTES + 1)
        except TimeoutError as err:
            raise Retry("no answer in time") from err
        except aiohttp.ClientError as err:
            raise Retry(type(err).__name__) from err
        if len(body) > MAX_BODY_BYTES:
            log.error("Oscar API at %s: an answer over %d bytes", self.base_url, MAX_BODY_BYTES)
            raise Unavailable("the shop's order system sent a malformed answer")
        try:
            return json.loads(body)
        except ValueError:
            log.error("Oscar API at %s: %s did not answer JSON", self.base_url, path.split("?")[0])
            raise Unavailable("the shop's order system sent a malformed answer") from None

    async def rows(self, session: aiohttp.ClientSession,
                   path: str) -> AsyncGenerator[Mapping[str, Any], None]:
        """Every row of a list, page by page (a list without pagination: one page)."""
        query = ""
        for _ in range(MAX_PAGES):
            page = await self.get(session, path + query)
            if isinstance(page, list):
                rows, following = page, None
            elif isinstance(page, Mapping) and isinstance(page.get("results"), list):
                rows, following = page["results"], page.get("next")
            else:
                log.error("Oscar API at %s: %s is not a list", self.base_url, path)
                raise Unavailable("the shop's order system sent a malformed answer")
            for row in rows:
                if isinstance(row, Mapping):
                    yield row
            if not isinstance(following, str) or not following:
                return
            query = "?" + urlsplit(following).query
        raise Unavailable("the shop's order list does not end")

    async def product_names(self, session: aiohttp.ClientSession, ids: set[str]) -> dict[str, str]:
        """Titles of these products now (one deleted since: left out)."""

        async def title(pid: str) -> tuple[str, str]:
            try:
                detail = await self.get(session, f"products/{quote(pid, safe='')}/")
            except Gone:
                return pid, ""
            return pid, str(detail.get("title") or "") if isinstance(detail, Mapping) else ""

        return {pid: name for pid, name in await asyncio.gather(*(title(p) for p in sorted(ids))) if name}


class OscarOrders:
    """Orders from the Oscar shop at ``base_url`` (its root; django-oscar-api under ``api_path``).

    Each try has ``timeout_s`` in all (it may read several pages); 5xx, 429, timeouts and
    connection errors are tried again up to ``retries`` times (``backoff_s``, doubling); a lookup
    that still fails, or is refused (401, 403), or gets a malformed answer raises ``Unavailable``
    and counts towards the ``breaker``, which then refuses at once while it is open.
    """

    def __init__(self, base_url: str, token: str, *, api_path: str = "/api/", timeout_s: float = 5.0,
                 retries: int = 2, backoff_s: float = 0.2, breaker: CircuitBreaker | None = None) -> None:
        self._api = OscarApi(base_url, token, api_path)
        self.base_url = self._api.base_url
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.breaker = breaker or CircuitBreaker()
        self._http = LoopSession()

    def __repr__(self) -> str:
        # Never the token.
        return f"OscarOrders({self.base_url!r})"

    async def order(self, order_id: str) -> Order | None:
        """The order with this number in the shop now; None when it has none; ``Unavailable``
        when it cannot say."""
        return await through(self.breaker, partial(self._fetch, order_id),
                             "the shop's order system is not answering; not asked again yet")

    async def _fetch(self, order_id: str) -> Order | None:
        tries = 1 + self.retries
        last: Exception | None = None
        for attempt in range(1, tries + 1):
            try:
                async with asyncio.timeout(self.timeout_s):
                    return await self._try(normalise_order_id(order_id))
            except (Retry, TimeoutError, Gone) as err:
                # Gone: the order was deleted between the list and its lines; asked again.
                last = err
                log.warning("order lookup at %s failed (try %d of %d): %s", self.base_url, attempt,
                            tries, type(err).__name__ if isinstance(err, TimeoutError) else err)
                if attempt < tries:
                    await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
        raise Unavailable("the shop's order system did not answer") from last

    async def _try(self, number: str) -> Order | None:
        session = self._client()
        found = None
        try:
            async with aclosing(self._api.rows(session, "admin/orders/")) as rows:
                async for row in rows:
                    if normalise_order_id(row.get("number", "")) == number:
                        found = row
                        break
        except Gone:
            log.error("Oscar API at %s has no admin/orders/ (is OSCARAPI_BLOCK_ADMIN_API_ACCESS "
                      "False, and the API under the path configured?)", self.base_url)
            raise Unavailable("the shop's order system answered HTTP 404") from None
        return None if found is None else await self._order(session, found)

    async def _order(self, session: aiohttp.ClientSession, row: Mapping[str, Any]) -> Order:
        pk = order_pk(row)
        currency = str(row.get("currency") or "").upper()
        if currency not in CURRENCIES:
            log.error("order lookup at %s: currency %s is not supported (only %s)", self.base_url,
                      currency[:8], ", ".join(sorted(CURRENCIES)))
            raise Unavailable("the shop's order is in a currency Shopbot cannot show")
        lines = [line async for line in self._api.rows(session, f"admin/orders/{pk}/lines/")]
        names = await self._api.product_names(
            session, {pid for line in lines if (pid := id_in(line.get("product"), "products"))})
        shipping = row.get("shipping_address")
        address: Mapping[str, Any] = shipping if isinstance(shipping, Mapping) else {}
        status = str(row.get("status") or "").strip()
        return Order(
            order_id=str(row["number"]),
            customer_id=id_in(row.get("owner"), "users"),
            date=placed_at(row.get("date_placed")).isoformat(sep=" "),
            country=await self._country(session, address.get("country")),
            # Oscar's statuses are capitalised labels ("Being processed"); the reply says
            # "is being processed".
            status=status[:1].lower() + status[1:] or "unknown",
            expected_delivery=NOT_KNOWN,
            lines=tuple(_line(line, names) for line in lines),
            email=str(row.get("email") or ""),
            postcode=str(address.get("postcode") or ""),
        )

    async def _country(self, session: aiohttp.ClientSession, url: object) -> str:
        code = id_in(url, "countries")
        if code is None:
            return ""
        try:
            country = await self._api.get(session, f"countries/{quote(code, safe='')}/")
        except Gone:
            return code
        name = country.get("printable_name") if isinstance(country, Mapping) else None
        return str(name or code)

    def _client(self) -> aiohttp.ClientSession:
        return self._http.client()

    async def close(self) -> None:
        """Close the connection pool (the server's actions context calls this on stop)."""
        await self._http.close()


def order_pk(row: Mapping[str, Any]) -> str:
    """The order's database id (what the admin API reads it by), from its ``url`` or ``lines``."""
    for key in ("url", "lines"):
        found = re.search(r"/orders/(\d+)/", urlsplit(str(row.get(key) or "")).path)
        if found:
            return found[1]
    log.error("order lookup: the Oscar order has no url to read its lines by")
    raise Unavailable("the shop's order system sent a malformed order")


def _line(line: Mapping[str, Any], names: Mapping[str, str]) -> OrderLine:
    pid = id_in(line.get("product"), "products") or ""
    quantity = line.get("quantity")
    if not isinstance(quantity, int) or quantity < 0:
        raise Unavailable("the shop's order system sent a malformed order line")
    total = amount(line.get("price_incl_tax") if line.get("price_incl_tax") is not None
                   else line.get("price_excl_tax"))
    unit = float(total / quantity) if quantity else 0.0
    # A product deleted since the order was placed has no page to name it by.
    return OrderLine(stock_code=pid, name=names.get(pid, "an item no longer in the catalogue"),
                     quantity=quantity, price=round(unit, 2))
