"""The Shopify Admin GraphQL reader against a local server that answers as Shopify documents it.

Shopify is an external SaaS; the server here stands at that boundary. Its answers follow
shopify.dev (GraphQL Admin API 2025-01: ``products`` connection with ``nodes`` and ``pageInfo``,
``extensions.cost.throttleStatus``, the ``THROTTLED`` error, HTTP 401 with the REST-style
``errors`` string); everything on this side of the wire is the real code.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from core.errors import BadRequest, Unavailable
from retrieval.catalogue.shopify_admin import PRODUCTS_PER_PAGE, TOKEN_HEADER, VARIANTS_PER_PAGE, ShopifyAdmin

TOKEN = "shpat_0123456789abcdef0123456789abcdef"
CDN = "https://cdn.shopify.com/s/files/1/0000/0001/files/"
Answer = tuple[int, dict[str, str], Any]


def cost(available: float = 1940.0, requested: int = 752) -> dict[str, Any]:
    return {"cost": {"requestedQueryCost": requested, "actualQueryCost": 48,
                     "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": available,
                                        "restoreRate": 100.0}}}


def variant(number: int, price: str = "9.00", *, sku: str | None = None, quantity: int | None = 3,
            policy: str = "DENY", tracked: bool = True, options: list[tuple[str, str]] | None = None,
            compare_at: str | None = None, image: str | None = None) -> dict[str, Any]:
    chosen = options or [("Title", "Default Title")]
    return {"id": f"gid://shopify/ProductVariant/{number}", "title": " / ".join(v for _, v in chosen),
            "sku": sku if sku is not None else f"SKU-{number}", "barcode": None, "price": price,
            "compareAtPrice": compare_at, "inventoryQuantity": quantity, "inventoryPolicy": policy,
            "inventoryItem": {"tracked": tracked},
            "selectedOptions": [{"name": n, "value": v} for n, v in chosen],
            "image": {"url": image} if image else None}


def product(number: int, variants: list[dict[str, Any]], *, status: str = "ACTIVE",
            published: bool = True, **more: Any) -> dict[str, Any]:
    handle = more.pop("handle", f"product-{number}")
    node = {"id": f"gid://shopify/Product/{number}", "handle": handle, "title": f"Product {number}",
            "descriptionHtml": f"<p>About product {number}.</p>", "vendor": "Trailware",
            "productType": "Mugs", "status": status,
            "publishedAt": "2025-01-10T09:00:00Z" if published else None,
            "onlineStoreUrl": f"https://shop.example/products/{handle}" if published else None,
            "category": None, "media": {"nodes": []}, "all_variants": variants}
    node.update(more)
    return node


def cursor(index: int) -> str:
    # Shopify's cursors are opaque strings; these look like them and carry an offset.
    return base64.b64encode(json.dumps({"last_id": index}).encode()).decode()


def offset(value: str | None) -> int:
    return json.loads(base64.b64decode(value))["last_id"] if value else 0


@dataclass
class FakeShopify:
    """The store's GraphQL endpoint: pages the products it holds as the variables ask."""

    products: list[dict[str, Any]] = field(default_factory=list)
    queued: list[Answer] = field(default_factory=list)  # answered first, in order
    costs: list[dict[str, Any]] = field(default_factory=list)  # the next answers' extensions
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        request = json.loads(body)
        self.requests.append({"path": path, "headers": headers, "body": body, **request})
        if self.queued:
            return self.queued.pop(0)
        if headers.get(TOKEN_HEADER.lower()) != TOKEN:
            return 401, {}, {"errors": "[API] Invalid API key or access token (unrecognized login or "
                                       "wrong password)"}
        query, variables = request["query"], request["variables"]
        extensions = self.costs.pop(0) if self.costs else cost()
        if "query ShopbotVariants" in query:
            node = next(p for p in self.products if p["id"] == variables["id"])
            return 200, {}, {"data": {"product": {"variants": self._page(
                node["all_variants"], variables["first"], variables["after"])}}, "extensions": extensions}
        listed = [p for p in self.products
                  if p["status"] == "ACTIVE" or 'query: "status:active"' not in query]
        start, first = offset(variables["after"]), variables["first"]
        nodes = []
        for p in listed[start:start + first]:
            shown = {k: v for k, v in p.items() if k != "all_variants"}
            shown["variants"] = self._page(p["all_variants"], variables["variants"], None)
            nodes.append(shown)
        end = start + len(nodes)
        return 200, {}, {"data": {"shop": {"currencyCode": "GBP"}, "products": {
            "pageInfo": {"hasNextPage": end < len(listed), "endCursor": cursor(end) if nodes else None},
            "nodes": nodes}}, "extensions": extensions}

    @staticmethod
    def _page(items: list[dict[str, Any]], first: int, after: str | None) -> dict[str, Any]:
        start = offset(after)
        end = min(start + first, len(items))
        return {"pageInfo": {"hasNextPage": end < len(items), "endCursor": cursor(end)},
                "nodes": items[start:end]}


@pytest.fixture
def shopify() -> Iterator[tuple[FakeShopify, str]]:
    fake = FakeShopify()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, payload = fake.answer(self.path, headers, body)
            time.sleep(fake.delay_s)
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def source(base_url: str, sleeps: list[float] | None = None, **options: Any) -> ShopifyAdmin:
    record: Callable[[float], None] = (sleeps.append if sleeps is not None else lambda _: None)
    return ShopifyAdmin("trailware", TOKEN, base_url=base_url, sleep=record, **options)


# --- reading the catalogue -----------------------------------------------------------------------


def test_every_page_of_products_and_of_a_products_variants_is_read(shopify: tuple[FakeShopify, str]) -> None:
    fake, base_url = shopify
    tee_variants = [variant(1000 + n, "18.00", compare_at="24.00" if n == 0 else None,
                            options=[("Color", "Green" if n % 2 else "Navy"), ("Size", f"S{n}")],
                            quantity=0 if n == 0 else 5, policy="CONTINUE" if n == 0 else "DENY")
                    for n in range(VARIANTS_PER_PAGE + 5)]
    tee = product(2, tee_variants, handle="organic-cotton-tee", productType="",
                  category={"fullName": "Apparel & Accessories > Clothing > Clothing Tops > T-Shirts"},
                  media={"nodes": [{"image": {"url": CDN + "tee.jpg"}}, {},  # {}: a video
                                   {"image": {"url": CDN + "tee-2.jpg"}}]})
    fake.products = [
        product(1, [variant(1, "12.50", sku="MUG-1", quantity=12)],
                media={"nodes": [{"image": {"url": CDN + "mug.jpg"}}]}),
        tee,
        product(3, [variant(3)], status="DRAFT"),
        product(4, [variant(4)], published=False),
        product(5, [variant(5, quantity=None, tracked=False, sku="")]),
        *(product(n, [variant(n)]) for n in range(6, 6 + 2 * PRODUCTS_PER_PAGE)),
    ]
    sleeps: list[float] = []
    read = source(base_url, sleeps).read()

    codes = [p.stock_code for p in read.products]
    assert len(codes) == 1 + len(tee_variants) + 1 + 2 * PRODUCTS_PER_PAGE
    assert codes[:2] == ["MUG-1", "SKU-1000"] and "SKU-1024" in codes and "product-5" in codes

    mug = read.products[0]
    assert (mug.name, mug.price, mug.category) == ("Product 1", 12.5, "Mugs")
    assert mug.facts["link"] == "https://shop.example/products/product-1"
    assert mug.facts["currency"] == "GBP"
    assert (mug.facts["availability"], mug.facts["stock_quantity"]) == ("in_stock", 12)
    assert (mug.facts["description"], mug.facts["images"]) == ("About product 1.", [CDN + "mug.jpg"])

    navy = read.products[1]
    assert navy.name == "Product 2 - Navy / S0"
    assert (navy.price, navy.facts["regular_price"]) == (18.0, 24.0)
    assert (navy.facts["availability"], navy.facts["stock_quantity"]) == ("backorder", 0)
    assert (navy.facts["colours"], navy.facts["size"]) == (["navy"], "S0")
    assert navy.category == "Apparel & Accessories"
    # A video among the media is no image.
    assert navy.facts["images"] == [CDN + "tee.jpg", CDN + "tee-2.jpg"]

    untracked = next(p for p in read.products if p.stock_code == "product-5")
    assert untracked.facts["availability"] == "in_stock" and "stock_quantity" not in untracked.facts

    # The draft was never sent (asked for active products only); the unpublished one is said.
    assert read.skipped == ("product 4 (handle 'product-4'): not published on the online store; left out",)

    # Cursors followed page by page; the variants past the product's first page asked for once.
    pages = [r for r in fake.requests if "query ShopbotCatalogue" in r["query"]]
    listed = len(fake.products) - 1  # less the draft
    assert [offset(r["variables"]["after"]) for r in pages] == list(range(0, listed, PRODUCTS_PER_PAGE))
    assert len(pages) == 3
    more = [r for r in fake.requests if "query ShopbotVariants" in r["query"]]
    assert [(r["variables"]["id"], offset(r["variables"]["after"])) for r in more] == [
        ("gid://shopify/Product/2", VARIANTS_PER_PAGE)]
    assert {r["path"] for r in fake.requests} == {"/admin/api/2025-01/graphql.json"}
    # The token travels in its header only.
    assert all(r["headers"][TOKEN_HEADER.lower()] == TOKEN and TOKEN.encode() not in r["body"]
               for r in fake.requests)
    assert sleeps == []  # the bucket never ran low


# --- rate limits ---------------------------------------------------------------------------------


def test_a_throttled_answer_waits_for_the_bucket_to_refill_and_asks_again(
        shopify: tuple[FakeShopify, str]) -> None:
    fake, base_url = shopify
    fake.products = [product(1, [variant(1)])]
    throttled = {"errors": [{"message": "Throttled", "extensions": {
        "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
        "extensions": cost(available=52.0, requested=752)}
    fake.queued = [(200, {}, throttled)]
    sleeps: list[float] = []
    read = source(base_url, sleeps).read()
    assert [p.stock_code for p in read.products] == ["SKU-1"]
    assert len(fake.requests) == 2
    # (752 needed - 52 there) / 100 restored a second: about 7 s.
    assert len(sleeps) == 1 and sleeps[0] == pytest.approx(7.0, abs=0.1)


def test_a_low_bucket_is_waited_for_before_the_next_page(shopify: tuple[FakeShopify, str]) -> None:
    fake, base_url = shopify
    fake.products = [product(n, [variant(n)]) for n in range(1, PRODUCTS_PER_PAGE + 2)]
    fake.costs = [cost(available=352.0, requested=752)]
    sleeps: list[float] = []
    read = source(base_url, sleeps).read()
    assert len(read.products) == PRODUCTS_PER_PAGE + 1
    # Two pages, the second asked for once (752 - 352) / 100 seconds had refilled the bucket.
    assert len(fake.requests) == 2
    assert len(sleeps) == 1 and sleeps[0] == pytest.approx(4.0, abs=0.1)


def test_http_429_waits_as_retry_after_says(shopify: tuple[FakeShopify, str]) -> None:
    fake, base_url = shopify
    fake.products = [product(1, [variant(1)])]
    fake.queued = [(429, {"Retry-After": "2.0"}, {"errors": "Exceeded 2 calls per second for api client."})]
    sleeps: list[float] = []
    assert len(source(base_url, sleeps).read().products) == 1
    assert sleeps == [2.0]


def test_server_errors_are_tried_again_then_unavailable(shopify: tuple[FakeShopify, str]) -> None:
    fake, base_url = shopify
    fake.products = [product(1, [variant(1)])]
    fake.queued = [(502, {}, b"<html>Bad Gateway</html>")]
    sleeps: list[float] = []
    assert len(source(base_url, sleeps, backoff_s=0.5).read().products) == 1
    assert sleeps == [0.5]

    fake.queued = [(503, {}, b"")] * 3
    with pytest.raises(Unavailable, match="did not answer: HTTP 503") as failed:
        source(base_url, retries=2).read()
    assert failed.value.__cause__ is not None


# --- refusals and an unreachable store ---------------------------------------------------------------


def test_a_wrong_token_is_a_clear_error_that_never_shows_the_token(
        shopify: tuple[FakeShopify, str], caplog: pytest.LogCaptureFixture) -> None:
    fake, base_url = shopify
    fake.products = [product(1, [variant(1)])]
    caplog.set_level(logging.DEBUG)
    wrong = "shpat_wrong0000000000000000000000000"
    admin = ShopifyAdmin("trailware.myshopify.com", wrong, base_url=base_url, sleep=lambda _: None)
    with pytest.raises(Unavailable, match="refused the access token \\(HTTP 401\\)") as refused:
        admin.read()
    assert len(fake.requests) == 1  # a refusal is not asked again
    shown = str(refused.value) + caplog.text + repr(admin) + admin.name
    assert wrong not in shown and "shpat_" not in shown
    assert admin.name == "shopify-admin:trailware.myshopify.com"


def test_missing_scope_is_said(shopify: tuple[FakeShopify, str]) -> None:
    fake, base_url = shopify
    denied = {"errors": [{"message": "Access denied for products field. Required access: `read_products` "
                                     "access scope.", "extensions": {"code": "ACCESS_DENIED"}}],
              "data": None, "extensions": cost()}
    fake.queued = [(200, {}, denied)]
    with pytest.raises(Unavailable, match="needs the read_products access scope"):
        source(base_url).read()


def test_a_redirect_is_not_followed(shopify: tuple[FakeShopify, str]) -> None:
    fake, base_url = shopify
    fake.queued = [(302, {"Location": "https://elsewhere.example/graphql"}, b"")]
    with pytest.raises(Unavailable, match="answered HTTP 302"):
        source(base_url).read()
    assert len(fake.requests) == 1


def test_an_answer_that_is_not_json_is_unavailable(shopify: tuple[FakeShopify, str]) -> None:
    fake, base_url = shopify
    fake.queued = [(200, {}, b"<html>maintenance</html>")]
    with pytest.raises(Unavailable, match="not JSON"):
        source(base_url).read()


def test_a_store_that_is_down_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on the port now.
    sleeps: list[float] = []
    with pytest.raises(Unavailable, match="connection failed \\(ConnectionRefusedError\\)") as down:
        source(f"http://127.0.0.1:{port}", sleeps, retries=2, backoff_s=0.25).read()
    assert down.value.__cause__ is not None
    assert sleeps == [0.25, 0.5]


def test_a_store_that_does_not_answer_in_time_is_unavailable(shopify: tuple[FakeShopify, str]) -> None:
    fake, base_url = shopify
    fake.products = [product(1, [variant(1)])]
    fake.delay_s = 1.0
    started = time.monotonic()
    with pytest.raises(Unavailable, match="no answer within 0.2 s"):
        source(base_url, timeout_s=0.2, retries=0).read()
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("store", ["evil.example/x", "", "a b", "shop.myshopify.com.evil.example"])
def test_a_store_that_is_not_a_shopify_store_name_is_refused(store: str) -> None:
    with pytest.raises(BadRequest):
        ShopifyAdmin(store, TOKEN)


def test_the_endpoint_is_the_stores_admin_api() -> None:
    admin = ShopifyAdmin("https://Trailware.myshopify.com/", TOKEN, api_version="2025-04")
    assert admin.endpoint == "https://trailware.myshopify.com/admin/api/2025-04/graphql.json"
    with pytest.raises(BadRequest):
        ShopifyAdmin("trailware", " ")
    with pytest.raises(BadRequest):
        ShopifyAdmin("trailware", TOKEN, api_version="latest")
