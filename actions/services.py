"""What the actions need at run time: the shop's tables, its orders and a fitted recommender."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from actions.catalogue_file import SyncedProducts
from actions.orders.demo import DemoOrders
from actions.orders.source import OrderSource
from actions.recommender import Recommender, normalise_customer_id, normalise_stock_code
from actions.recommender_store import load_or_fit
from core.errors import NotReady
from core.shop import Customer, Order, Product, load_customers, load_orders

log = logging.getLogger(__name__)

# The registry's live recommender, asked through a callable because actions/ never imports
# the bot: its version name and the loaded model, or None when no version is live.
LiveRecommender = Callable[[], tuple[str, Recommender] | None]

_ORDER_NOISE = re.compile(r"[^0-9A-Z]")


def normalise_order_id(value: object) -> str:
    """``"#573415"`` / ``" 573415 "`` → ``"573415"``."""
    return _ORDER_NOISE.sub("", str(value).upper())


@dataclass(frozen=True)
class ShopServices:
    """The recommender plus products, orders and customers keyed by their ids, and the source
    the order-status action asks (``order_source``: the shop's system, or these demo orders).

    ``recommender_version`` names the registry version served (None: the fit of the
    transactions CSV). The recommender changes while the bot runs (``swap_recommender``), and
    the products follow each catalogue sync; the other tables stay as loaded.
    """

    recommender: Recommender
    products: Mapping[str, Product]
    orders: Mapping[str, Order]
    customers: Mapping[str, Customer]
    order_source: OrderSource
    recommender_version: str | None = None

    @classmethod
    def load(cls, shop_dir: Path, transactions_csv: Path,
             recommender_dir: Path | None = None,
             order_source: OrderSource | None = None,
             live_recommender: LiveRecommender | None = None) -> ShopServices:
        """Read the shop tables in ``shop_dir`` and fit the recommender on ``transactions_csv``.

        With ``recommender_dir`` the fit is kept there and loaded on the next start while the
        transactions, catalogue and code are unchanged. With ``live_recommender`` the
        registry's live version is served instead when there is one (no fit at all); one that
        does not verify or load is logged and the CSV's fit serves. Orders are asked of
        ``order_source`` (``actions.orders.choose``), or without one read from the demo tables.
        Raises ``NotReady`` when the shop tables have not been prepared.
        """
        # Re-read after each catalogue sync (actions/catalogue_file.py).
        products = SyncedProducts(shop_dir, normalise_stock_code)
        orders = {normalise_order_id(k): v for k, v in load_orders(shop_dir).items()}
        customers = {
            cid: c for c in load_customers(shop_dir).values()
            if (cid := normalise_customer_id(c.customer_id))
        }
        live = _live(live_recommender) if live_recommender is not None else None
        if live is not None:
            version, recommender = live
            return cls(recommender, products, orders, customers,
                       order_source or DemoOrders(orders), version)
        recommender = load_or_fit(transactions_csv, products.keys(), recommender_dir)
        return cls(recommender, products, orders, customers, order_source or DemoOrders(orders))

    def swap_recommender(self, recommender: Recommender, version: str | None = None) -> None:
        """Serve ``recommender`` from now on (a registry deploy or rollback), without a restart.

        One reference assignment: an action already holding the old model finishes with it,
        the next one reads the new one.
        """
        # Frozen keeps the tables read-only; the recommender is replaced on purpose.
        object.__setattr__(self, "recommender", recommender)
        object.__setattr__(self, "recommender_version", version)

    def product(self, stock_code: str) -> Product | None:
        """The catalogue entry for a stock code, if any."""
        return self.products.get(normalise_stock_code(stock_code))

    def order(self, order_id: str) -> Order | None:
        """The order with this number in the demo tables, if any (the action asks
        ``order_source``)."""
        return self.orders.get(normalise_order_id(order_id))


def _live(live_recommender: LiveRecommender) -> tuple[str, Recommender] | None:
    """The live version, or None (with the reason logged) when it cannot be served."""
    try:
        return live_recommender()
    except NotReady as err:
        log.error("serving the transactions' recommender: the live version is unusable (%s)", err)
        return None
