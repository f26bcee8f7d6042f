"""The order source ``SHOPBOT_ORDERS_SOURCE`` names, built once where the actions are built."""

from __future__ import annotations

from actions.orders.http_json import HttpJsonOrders
from actions.orders.source import OrderSource
from core.errors import NotReady


def live_order_source(spec: str, secret: bytes | None, secret_env: str) -> OrderSource | None:
    """The source ``spec`` names (``demo`` or ``http-json:BASE_URL``, checked by ``Settings``);
    None for ``demo``: the orders of the prepared shop tables, which ``ShopServices.load`` reads.

    ``secret`` is the value of the env var ``secret_env`` names (named in the error when unset).
    """
    scheme, _, argument = spec.partition(":")
    if scheme == "demo":
        return None
    if scheme == "http-json":
        if not secret:
            raise NotReady(f"SHOPBOT_ORDERS_SOURCE is http-json but {secret_env or 'no env var'} "
                           "holds no secret: set it to the secret shared with the shop's system")
        return HttpJsonOrders(argument, secret)
    raise NotReady(f"unknown SHOPBOT_ORDERS_SOURCE scheme {scheme!r} (demo, http-json:BASE_URL)")
