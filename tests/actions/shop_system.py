"""A shop's own order system, as a small real HTTP server speaking docs/orders.md's contract.

The shop's system is outside Shopbot, so the tests stand it up for real: it checks each
request's signature the way a shop would (written here from the contract, not with Shopbot's
code), serves the orders it holds, and can be made to fail, stall or stop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
import time
from typing import Any

from aiohttp import web

PREFIX = "/shop/api"


class ShopSystem:
    """Serves ``GET {PREFIX}/orders/{id}``; ``mode``: ``ok``, ``error`` (500), ``slow`` (waits
    ``delay_s`` first) or ``malformed`` (a body that is not an order)."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.orders: dict[str, dict[str, Any]] = {}
        self.mode = "ok"
        self.delay_s = 0.0
        self.requests = 0  # every request that reached the server
        self.refused = 0  # of which the signature was wrong
        self.port = _free_port()
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """What the shop configures as ``http-json:BASE_URL``."""
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    async def start(self) -> None:
        """Listen (again) on the same port."""
        app = web.Application()
        app.router.add_get(PREFIX + "/orders/{order_id}", self._order)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        """Stop listening: connections are refused until ``start``."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _signed(self, request: web.Request) -> bool:
        timestamp = request.headers.get("X-Shopbot-Timestamp", "")
        given = request.headers.get("X-Shopbot-Signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return False
        message = f"{timestamp}\nGET\n/orders/{request.match_info['order_id']}".encode()
        expected = "sha256=" + hmac.new(self.secret, message, hashlib.sha256).hexdigest()
        return hmac.compare_digest(given, expected)

    async def _order(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if not self._signed(request):
            self.refused += 1
            return web.json_response({"error": "bad signature"}, status=401)
        if self.mode == "error":
            return web.json_response({"error": "database down"}, status=500)
        if self.mode == "slow":
            await asyncio.sleep(self.delay_s)
        if self.mode == "malformed":
            body = {"order_id": request.match_info["order_id"], "status": ["shipped"],
                    "email": "leak@example.com", "lines": "none"}
            return web.json_response(body)
        order = self.orders.get(request.match_info["order_id"])
        if order is None:
            return web.json_response({"error": "no such order"}, status=404)
        return web.json_response(order)


def order_body(order_id: str, status: str, customer_id: str | None = "12345") -> dict[str, Any]:
    """An order as the contract's response schema has it."""
    return {
        "order_id": order_id, "customer_id": customer_id, "placed_at": "2026-11-30T09:15:00Z",
        "status": status, "expected_delivery": "2026-12-03", "email": "jane@example.com",
        "postcode": "SW1A 1AA", "country": "United Kingdom", "currency": "GBP",
        "lines": [{"stock_code": "10001", "name": "RED HEART MUG", "quantity": 2, "price": 2.5},
                  {"stock_code": "10006", "name": "PAPER CHAIN KIT", "quantity": 1, "price": 2.95}],
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
