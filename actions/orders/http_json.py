"""The generic HTTP/JSON connector: a shop on its own system answers ``GET /orders/{id}``.

The contract (request, signature, body, status codes) is in docs/orders.md. Each question is
asked live: nothing of an order is kept after the call returns.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from datetime import date, datetime
from functools import partial
from typing import Annotated
from urllib.parse import quote

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from actions.orders.breaker import CircuitBreaker, through
from actions.orders.http_session import LoopSession
from actions.services import normalise_order_id
from core.errors import Unavailable
from core.shop import Order, OrderLine

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Shopbot-Timestamp"
SIGNATURE_HEADER = "X-Shopbot-Signature"
# A body larger than this is not an order: refused unread (and never logged).
MAX_BODY_BYTES = 1_000_000
# Order.total and the reply show pounds; another currency is refused rather than mislabelled.
CURRENCIES = frozenset({"GBP"})

Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class LineBody(BaseModel):
    """One line of an order as the shop's system sends it."""

    model_config = ConfigDict(extra="ignore")

    stock_code: Id
    name: Short
    quantity: int = Field(ge=0)
    price: float = Field(ge=0)


class OrderBody(BaseModel):
    """The JSON body of a 200 answer (docs/orders.md, "Response")."""

    model_config = ConfigDict(extra="ignore")

    order_id: Id
    customer_id: Id | int | None = None
    placed_at: datetime
    status: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    expected_delivery: date | None = None
    email: Short = ""
    postcode: Annotated[str, StringConstraints(strip_whitespace=True, max_length=16)] = ""
    country: Short = ""
    lines: list[LineBody] = Field(max_length=1000)
    currency: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True)] = "GBP"

    def to_order(self) -> Order:
        """The shop's order in Shopbot's own type."""
        return Order(
            order_id=self.order_id,
            customer_id=None if self.customer_id is None else str(self.customer_id),
            date=self.placed_at.isoformat(sep=" "),
            country=self.country,
            status=self.status,
            expected_delivery=(self.expected_delivery.isoformat() if self.expected_delivery
                               else "not known yet"),
            lines=tuple(OrderLine(line.stock_code, line.name, line.quantity, line.price)
                        for line in self.lines),
            email=self.email,
            postcode=self.postcode,
        )


def signature(secret: bytes, timestamp: str, path: str) -> str:
    """``sha256=<hex HMAC-SHA256 of "{timestamp}\\nGET\\n{path}">``, the signature header's value."""
    message = f"{timestamp}\nGET\n{path}".encode()
    return "sha256=" + hmac.new(secret, message, hashlib.sha256).hexdigest()


class _Retry(Exception):
    """This try failed in a way another try may not (5xx, timeout, no connection)."""


class HttpJsonOrders:
    """Orders from ``GET {base_url}/orders/{order_id}``, signed with the shared secret.

    Each try has ``timeout_s`` in all; 5xx, 429, timeouts and connection errors are tried again
    up to ``retries`` times (``backoff_s``, doubling); a lookup that still fails, or gets a
    refusal (401, 403, another 4xx, a redirect) or a malformed body, raises ``Unavailable`` and
    counts towards the ``breaker``, which then refuses at once while it is open.
    """

    def __init__(self, base_url: str, secret: bytes, *, timeout_s: float = 3.0, retries: int = 2,
                 backoff_s: float = 0.2, breaker: CircuitBreaker | None = None,
                 now: Callable[[], float] = time.time) -> None:
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.breaker = breaker or CircuitBreaker()
        self._now = now
        self._http = LoopSession()

    def __repr__(self) -> str:
        # Never the secret.
        return f"HttpJsonOrders({self.base_url!r})"

    async def order(self, order_id: str) -> Order | None:
        """The order from the shop's system now; None on 404; ``Unavailable`` when it cannot say."""
        return await through(self.breaker, partial(self._fetch, order_id),
                             "the shop's order system is not answering; not asked again yet")

    async def _fetch(self, order_id: str) -> Order | None:
        tries = 1 + self.retries
        for attempt in range(1, tries + 1):
            try:
                return await self._try(order_id)
            except _Retry as err:
                log.warning("order lookup at %s failed (try %d of %d): %s", self.base_url,
                            attempt, tries, err)
                if attempt < tries:
                    await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
        raise Unavailable("the shop's order system did not answer")

    async def _try(self, order_id: str) -> Order | None:
        path = f"/orders/{quote(order_id, safe='')}"
        timestamp = str(int(self._now()))
        headers = {TIMESTAMP_HEADER: timestamp,
                   SIGNATURE_HEADER: signature(self._secret, timestamp, path),
                   "Accept": "application/json"}
        try:
            async with self._client().get(
                    self.base_url + path, headers=headers, allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as response:
                status = response.status
                if status == 404:
                    return None
                if status >= 500 or status == 429:
                    raise _Retry(f"HTTP {status}")
                if status != 200:
                    log.error("order lookup at %s refused: HTTP %d (a wrong secret or URL?)",
                              self.base_url, status)
                    raise Unavailable(f"the shop's order system answered HTTP {status}")
                body = await _read_limited(response)
        except TimeoutError as err:
            raise _Retry(f"no answer within {self.timeout_s:g} s") from err
        except aiohttp.ClientError as err:
            raise _Retry(type(err).__name__) from err
        return self._parse(order_id, body)

    def _parse(self, order_id: str, body: bytes | None) -> Order:
        # Logged: what was wrong and where, never the body or a field's value (personal data).
        if body is None:
            log.error("order lookup at %s: body over %d bytes", self.base_url, MAX_BODY_BYTES)
            raise Unavailable("the shop's order system sent a malformed order")
        try:
            parsed = OrderBody.model_validate_json(body)
        except ValidationError as err:
            where = sorted({".".join(str(p) for p in e["loc"]) or "(body)" for e in err.errors()})
            log.error("order lookup at %s: malformed order (%s)", self.base_url, ", ".join(where))
            raise Unavailable("the shop's order system sent a malformed order") from None
        if normalise_order_id(parsed.order_id) != normalise_order_id(order_id):
            log.error("order lookup at %s: asked for one order, answered with another",
                      self.base_url)
            raise Unavailable("the shop's order system sent a different order")
        if parsed.currency not in CURRENCIES:
            log.error("order lookup at %s: currency %s is not supported (only %s)",
                      self.base_url, parsed.currency[:8], ", ".join(sorted(CURRENCIES)))
            raise Unavailable("the shop's order is in a currency Shopbot cannot show")
        return parsed.to_order()

    def _client(self) -> aiohttp.ClientSession:
        return self._http.client()

    async def close(self) -> None:
        """Close the connection pool (the server's actions context calls this on stop)."""
        await self._http.close()


async def _read_limited(response: aiohttp.ClientResponse) -> bytes | None:
    """The body, or None when it is over ``MAX_BODY_BYTES``."""
    if (response.content_length or 0) > MAX_BODY_BYTES:
        return None
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)

