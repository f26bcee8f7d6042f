"""The demo shop's orders: the table ``shopbot prepare`` wrote into ``var/shop``."""

from __future__ import annotations

from collections.abc import Mapping

from core.shop import Order


class DemoOrders:
    """Orders from an in-memory table keyed by normalised order number (never unavailable)."""

    def __init__(self, orders: Mapping[str, Order]) -> None:
        self._orders = orders

    async def order(self, order_id: str) -> Order | None:
        """The order with this normalised number, if the table has it."""
        return self._orders.get(order_id)
