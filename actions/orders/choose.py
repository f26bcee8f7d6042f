"""The order source ``SHOPBOT_ORDERS_SOURCE`` names, built once where the actions are built."""

from __future__ import annotations

from pathlib import Path

from actions.orders.demo_db import demo_sql_source
from actions.orders.http_json import HttpJsonOrders
from actions.orders.source import OrderSource
from actions.orders.sql import SqlOrders
from core.errors import NotReady

SCHEMES = ("demo", "http-json", "sql", "oscar")


def live_order_source(spec: str, secret: bytes | None, secret_env: str, *, shop_dir: Path,
                      query: str = "") -> OrderSource:
    """The source ``spec`` names (checked by ``Settings``):

    - ``demo``: the demo shop's orders database under ``shop_dir`` (built from the prepared tables),
      read by the same SQL connector a shop's own database is;
    - ``http-json:BASE_URL``: the shop's own system, signed GETs (``secret``: the signing key);
    - ``sql:URL``: the shop's database, ``query`` run with ``:order_id`` (``secret``: its password);
    - ``oscar:BASE_URL``: a django-oscar shop's API (``secret``: a staff user's API token).

    ``secret`` is the value of the env var ``secret_env`` names (named in the error when unset).
    """
    scheme, _, argument = spec.partition(":")
    if scheme == "demo":
        return demo_sql_source(shop_dir)
    if scheme == "http-json":
        return HttpJsonOrders(argument, _needed(secret, secret_env, scheme,
                                                "the secret shared with the shop's system"))
    if scheme == "sql":
        if not query.strip():
            raise NotReady("SHOPBOT_ORDERS_SOURCE is sql but SHOPBOT_ORDERS_QUERY is empty: set the SELECT "
                           "that finds an order by :order_id (docs/orders.md)")
        return SqlOrders(argument, query, password=secret.decode() if secret else None)
    if scheme == "oscar":
        from actions.orders.oscar import OscarOrders

        return OscarOrders(argument, _needed(secret, secret_env, scheme, "the API token of a staff user "
                                             "allowed to view orders").decode())
    raise NotReady(f"unknown SHOPBOT_ORDERS_SOURCE scheme {scheme!r} ({', '.join(SCHEMES)})")


def _needed(secret: bytes | None, secret_env: str, scheme: str, what: str) -> bytes:
    if not secret:
        raise NotReady(f"SHOPBOT_ORDERS_SOURCE is {scheme} but {secret_env or 'no env var'} holds no "
                       f"secret: set it to {what}")
    return secret
