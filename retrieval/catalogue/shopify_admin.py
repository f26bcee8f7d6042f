"""Read a Shopify shop's catalogue through the Admin GraphQL API (for a scheduled sync).

``POST https://{store}/admin/api/{version}/graphql.json`` with the app's Admin API access token
in ``X-Shopify-Access-Token`` (shopify.dev, "GraphQL Admin API"; scope ``read_products``).
Active products are paged with cursors (``pageInfo.endCursor``), a product's variants beyond the
first page paged on their own. Shopify limits by calculated query cost: each answer says what
is left in the bucket (``extensions.cost.throttleStatus``), and the next page waits until its
cost is there; a ``THROTTLED`` answer or an HTTP 429 (``Retry-After``) waits and asks again.

Plain HTTP from the standard library: the ``ShopifyAPI`` package wraps the REST resources and
sends a GraphQL document, with no paging or throttle handling to gain from a dependency.
``read()`` blocks; the server runs it in a worker thread.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from core.errors import BadRequest, Unavailable
from retrieval.catalogue.shopify_variant import ShopifyVariant, to_read
from retrieval.catalogue.source import CatalogueRead

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Shopify-Access-Token"
# An answer larger than this is not a page of products: refused unread.
MAX_BODY_BYTES = 16 * 1024 * 1024
# Page sizes that keep a page's requested cost under Shopify's 1,000-point ceiling for one query
# (a connection costs 2 plus its page size times what each node selects): a product here costs
# about 2 + (2 + 10 × 2) for its media + (2 + 20 × 4) for its variants = 106, so 8 a page ≈ 850.
PRODUCTS_PER_PAGE = 8
VARIANTS_PER_PAGE = 20
MORE_VARIANTS_PER_PAGE = 100
IMAGES_PER_PRODUCT = 10
_STORE = re.compile(r"(?:https?://)?([a-z0-9][a-z0-9-]{0,99})(\.myshopify\.com)?/?", re.IGNORECASE)

_VARIANT = """
fragment ShopbotVariant on ProductVariant {
  id title sku barcode price compareAtPrice inventoryQuantity inventoryPolicy
  inventoryItem { tracked }
  selectedOptions { name value }
  image { url }
}
"""
PRODUCTS_QUERY = """
query ShopbotCatalogue($first: Int!, $after: String, $variants: Int!, $images: Int!) {
  shop { currencyCode }
  products(first: $first, after: $after, query: "status:active", sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id handle title descriptionHtml vendor productType status publishedAt onlineStoreUrl
      category { fullName }
      media(first: $images) { nodes { ... on MediaImage { image { url } } } }
      variants(first: $variants) {
        pageInfo { hasNextPage endCursor }
        nodes { ...ShopbotVariant }
      }
    }
  }
}
""" + _VARIANT
VARIANTS_QUERY = """
query ShopbotVariants($id: ID!, $first: Int!, $after: String) {
  product(id: $id) {
    variants(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { ...ShopbotVariant }
    }
  }
}
""" + _VARIANT


class _Retry(Exception):
    """This try failed in a way a later one may not; ``wait`` seconds first (None: backoff)."""

    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.wait = wait


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # The Admin API does not redirect; following one would carry the request elsewhere.
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> None:
        return None


class ShopifyAdmin:
    """The catalogue of the Shopify shop ``store`` (``name.myshopify.com`` or ``name``), read with
    the Admin API access ``token``. ``base_url`` replaces ``https://{store}`` (a test server).

    Each request has ``timeout_s``; a timeout, a refused connection, a 5xx, an HTTP 429 or a
    ``THROTTLED`` answer is tried again, up to ``retries`` more times for one page (waiting as
    Shopify says, else ``backoff_s`` doubling; at most ``max_wait_s`` at a time); then, or on a
    refusal (401, 403, 404, 402/423 for a frozen or locked shop) or a malformed answer,
    ``Unavailable`` is raised.
    """

    def __init__(self, store: str, token: str, api_version: str = "2025-01",
                 base_url: str | None = None, *, timeout_s: float = 15.0, retries: int = 5,
                 backoff_s: float = 1.0, max_wait_s: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        match = _STORE.fullmatch(store.strip())
        if match is None:
            raise BadRequest(f"store {store[:80]!r} is not a Shopify store name such as "
                             "'my-shop' or 'my-shop.myshopify.com'")
        if not re.fullmatch(r"\d{4}-\d{2}|unstable", api_version):
            raise BadRequest(f"API version {api_version[:20]!r} is not one such as '2025-01'")
        if not token.strip():
            raise BadRequest("the Shopify Admin API access token is empty")
        self.store = f"{match[1].lower()}.myshopify.com"
        base = (base_url or f"https://{self.store}").rstrip("/")
        if urlsplit(base).scheme not in ("http", "https"):
            raise BadRequest(f"base URL {base[:80]!r} is not an http(s) URL")
        self.endpoint = f"{base}/admin/api/{api_version}/graphql.json"
        self._token = token.strip()
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_wait_s = max_wait_s
        self._sleep = sleep
        self._opener = urllib.request.build_opener(_NoRedirects())
        # What the bucket held after the last answer: (available, restore rate per second, when).
        self._bucket: tuple[float, float, float] | None = None
        self._requested = 0.0  # the last query's requested cost, the next one's likely cost

    def __repr__(self) -> str:
        # Never the token.
        return f"ShopifyAdmin({self.store!r})"

    @property
    def name(self) -> str:
        """``shopify-admin:{store}``."""
        return f"shopify-admin:{self.store}"

    def read(self) -> CatalogueRead:
        """Every active, published variant now; what was left out, by product or variant id."""
        skipped: list[str] = []
        read = to_read(self._variants(skipped), skipped)
        log.info("read %d variants from Shopify store %s (%d left out or cut)", len(read.products),
                 self.store, len(read.skipped))
        return read

    # --- the catalogue ---------------------------------------------------------------------------

    def _variants(self, skipped: list[str]) -> Iterator[tuple[str, ShopifyVariant, str | None]]:
        after: str | None = None
        per_page = PRODUCTS_PER_PAGE
        while True:
            variables = {"first": per_page, "after": after, "variants": VARIANTS_PER_PAGE,
                         "images": IMAGES_PER_PRODUCT}
            data = self._query(PRODUCTS_QUERY, variables)
            shop = _object(data.get("shop"))
            currency = shop.get("currencyCode") if isinstance(shop.get("currencyCode"), str) else None
            page = _object(data.get("products"), "products")
            for node in _nodes(page, "products"):
                yield from self._product(node, currency, skipped)
            info = _object(page.get("pageInfo"), "products.pageInfo")
            after = _next(info, after)
            if after is None:
                return

    def _product(self, node: dict[str, Any], currency: str | None,
                 skipped: list[str]) -> Iterator[tuple[str, ShopifyVariant, str | None]]:
        product_id = _text(node.get("id"))
        handle = _text(node.get("handle"))
        where = f"product {_numeric(product_id)} (handle {handle[:60]!r})"
        status = _text(node.get("status"))
        if status != "ACTIVE":
            skipped.append(f"{where}: status {status.lower() or 'unknown'}; not for sale, left out")
            return
        if not node.get("publishedAt"):
            skipped.append(f"{where}: not published on the online store; left out")
            return
        if not handle or not _text(node.get("title")):
            skipped.append(f"{where}: no handle or title; skipped")
            return
        images = tuple(url for url in (_text(_object(m.get("image")).get("url"))
                                       for m in _nodes(_object(node.get("media")), "media")) if url)
        category = _text(_object(node.get("category")).get("fullName"))
        for variant in self._product_variants(product_id, _object(node.get("variants"), "variants")):
            options = tuple((_text(o.get("name")), _text(o.get("value")))
                            for o in variant.get("selectedOptions") or () if isinstance(o, dict))
            quantity = variant.get("inventoryQuantity")
            tracked = _object(variant.get("inventoryItem")).get("tracked") is True
            yield f"variant {_numeric(_text(variant.get('id')))}", ShopifyVariant(
                handle=handle,
                title=_text(node.get("title")),
                price=_text(variant.get("price")),
                options=options,
                sku=_text(variant.get("sku")),
                compare_at_price=_text(variant.get("compareAtPrice")),
                description_html=_text(node.get("descriptionHtml")),
                vendor=_text(node.get("vendor")),
                product_type=_text(node.get("productType")),
                category=category,
                barcode=_text(variant.get("barcode")),
                tracked=tracked,
                inventory=quantity if isinstance(quantity, int) and not isinstance(quantity, bool) else None,
                continue_selling=variant.get("inventoryPolicy") == "CONTINUE",
                image=_text(_object(variant.get("image")).get("url")),
                product_images=images,
                link=_text(node.get("onlineStoreUrl")),
            ), currency

    def _product_variants(self, product_id: str, first: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The variants on the product's page, then the rest of them a page at a time."""
        connection, after = first, None
        while True:
            yield from _nodes(connection, "variants")
            after = _next(_object(connection.get("pageInfo")), after)
            if after is None:
                return
            data = self._query(VARIANTS_QUERY, {"id": product_id, "first": MORE_VARIANTS_PER_PAGE,
                                                "after": after})
            connection = _object(_object(data.get("product"), "product").get("variants"), "variants")

    # --- HTTP ------------------------------------------------------------------------------------

    def _query(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """The ``data`` of one GraphQL answer, tried again while Shopify asks to wait."""
        body = json.dumps({"query": query, "variables": variables}).encode()
        for attempt in range(1, self.retries + 2):
            self._wait_for_bucket()
            try:
                return self._post(body)
            except _Retry as err:
                if attempt > self.retries:
                    raise Unavailable(f"Shopify store {self.store} did not answer: {err}") from err
                wait = err.wait if err.wait is not None else self.backoff_s * 2 ** (attempt - 1)
                log.warning("Shopify store %s: %s (try %d of %d); again in %.1f s", self.store, err,
                            attempt, self.retries + 1, wait)
                if wait > 0:
                    self._sleep(min(wait, self.max_wait_s))
        raise AssertionError("unreachable")

    def _post(self, body: bytes) -> dict[str, Any]:
        request = urllib.request.Request(self.endpoint, data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "Accept": "application/json"})
        # Unredirected: the token goes to this URL only, never to where a redirect points.
        request.add_unredirected_header(TOKEN_HEADER, self._token)
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                raw = response.read(MAX_BODY_BYTES + 1)
        except urllib.error.HTTPError as err:
            try:
                raise self._refusal(err) from err
            finally:
                err.close()
        except TimeoutError as err:
            raise _Retry(f"no answer within {self.timeout_s:g} s") from err
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            reason = getattr(err, "reason", err)
            raise _Retry(f"connection failed ({type(reason).__name__})") from err
        if len(raw) > MAX_BODY_BYTES:
            raise Unavailable(f"Shopify store {self.store}: an answer over {MAX_BODY_BYTES} bytes")
        try:
            answer = json.loads(raw)
        except ValueError as err:
            raise Unavailable(f"Shopify store {self.store} sent an answer that is not JSON") from err
        if not isinstance(answer, dict):
            raise Unavailable(f"Shopify store {self.store} sent an answer that is not a JSON object")
        self._note_cost(answer)
        errors = answer.get("errors")
        if errors:
            self._graphql_errors(errors)
        return _object(answer.get("data"), "data")

    def _refusal(self, err: urllib.error.HTTPError) -> Exception:
        """What an HTTP error status means: try again (429, 5xx) or a clear refusal."""
        status = err.code
        if status == 429:
            return _Retry("HTTP 429 (rate limited)", _retry_after(err.headers.get("Retry-After")))
        if status >= 500:
            return _Retry(f"HTTP {status}")
        reasons = {
            401: "refused the access token (HTTP 401): check the Admin API access token",
            402: "is frozen (HTTP 402 Payment Required)",
            403: "refused access (HTTP 403): the app needs the read_products access scope",
            404: "was not found (HTTP 404): check the store name and the API version",
            423: "is locked (HTTP 423)",
        }
        reason = reasons.get(status, f"answered HTTP {status}")
        log.error("Shopify store %s %s", self.store, reason)
        return Unavailable(f"Shopify store {self.store} {reason}", retry_after=300)

    def _graphql_errors(self, errors: Any) -> None:
        listed = errors if isinstance(errors, list) else [errors]
        codes = {_text(_object(_object(e).get("extensions")).get("code")) for e in listed}
        messages = "; ".join(_text(_object(e).get("message")) or str(e)[:200] for e in listed)[:500]
        if "THROTTLED" in codes:
            # With the bucket known, the wait before the next try is the refill it needs.
            raise _Retry("throttled", 0.0 if self._bucket is not None else None)
        if "ACCESS_DENIED" in codes:
            raise Unavailable(f"Shopify store {self.store} refused the query: {messages} (the app "
                              "needs the read_products access scope)", retry_after=300)
        raise Unavailable(f"Shopify store {self.store} refused the query: {messages}", retry_after=300)

    # --- the cost bucket -------------------------------------------------------------------------

    def _note_cost(self, answer: dict[str, Any]) -> None:
        cost = _object(_object(answer.get("extensions")).get("cost"))
        status = _object(cost.get("throttleStatus"))
        available, rate = status.get("currentlyAvailable"), status.get("restoreRate")
        if isinstance(available, int | float) and isinstance(rate, int | float) and rate > 0:
            self._bucket = (float(available), float(rate), time.monotonic())
            requested = cost.get("requestedQueryCost")
            self._requested = float(requested) if isinstance(requested, int | float) else 0.0

    def _wait_for_bucket(self) -> None:
        # Waiting before a query that would be throttled costs the same time without the refusal.
        if self._bucket is None:
            return
        available, rate, at = self._bucket
        now_available = available + rate * (time.monotonic() - at)
        if now_available < self._requested:
            self._sleep(min((self._requested - now_available) / rate, self.max_wait_s))


def _next(page_info: dict[str, Any], cursor: str | None) -> str | None:
    """The cursor of the next page, None after the last; the same cursor again would never end."""
    after = page_info.get("endCursor") if page_info.get("hasNextPage") is True else None
    if not isinstance(after, str) or not after:
        return None
    if after == cursor:
        raise Unavailable("Shopify sent the same page cursor twice")
    return after


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _object(value: Any, what: str | None = None) -> dict[str, Any]:
    """``value`` when it is a JSON object; {} when it is not (``Unavailable`` when ``what`` names
    a part the answer must have)."""
    if isinstance(value, dict):
        return value
    if what is not None:
        raise Unavailable(f"Shopify sent an answer without {what}")
    return {}


def _nodes(connection: dict[str, Any], what: str) -> list[dict[str, Any]]:
    nodes = connection.get("nodes")
    if nodes is None and isinstance(connection.get("edges"), list):
        nodes = [_object(edge).get("node") for edge in connection["edges"]]
    if not isinstance(nodes, list):
        raise Unavailable(f"Shopify sent {what} without nodes")
    return [node for node in nodes if isinstance(node, dict)]


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _numeric(gid: str) -> str:
    """``gid://shopify/Product/123`` → ``123``, the id the Shopify admin shows."""
    return gid.rpartition("/")[2] or "?"
