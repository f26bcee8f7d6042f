"""The one interface the order-status action reads orders through."""

from __future__ import annotations

from typing import Protocol

from core.shop import Order


class OrderSource(Protocol):
    """Looks an order up in the shop's system at the moment of the question."""

    async def order(self, order_id: str) -> Order | None:
        """The order with this (normalised) number, or None when the shop has none.

        Raises ``core.errors.Unavailable`` when the shop's system cannot answer.
        """
        ...
