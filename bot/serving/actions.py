"""The rasa-sdk actions: in-process with the shop's data, or a remote action server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from actions.orders.choose import live_order_source
from actions.runner import ActionRunner, make_runner
from actions.services import ShopServices
from bot.lifecycle.live import LiveModel
from bot.lifecycle.recommender import live_loader, recommender_follower
from bot.serving.models import REGISTRY
from bot.web.keys import METRICS, SETTINGS

ACTIONS = web.AppKey("actions", ActionRunner)
# This worker's follower of the live recommender version (absent with a remote action server).
RECOMMENDER: web.AppKey[LiveModel[Any]] = web.AppKey("recommender_follower")


async def actions_ctx(app: web.Application) -> AsyncIterator[None]:
    """In-process rasa-sdk actions (with the shop's data and its order source) or the remote
    action server (which builds its own from the same settings)."""
    settings = app[SETTINGS]
    # Built here, before anything loads, so a missing secret stops the start at once.
    # (Off the event loop: the demo's orders database is written on its first start.)
    orders = (await asyncio.to_thread(
        live_order_source, settings.orders_source, settings.secret(settings.orders_secret_env),
        settings.orders_secret_env, shop_dir=settings.shop_dir, query=settings.orders_query)
              if not settings.action_endpoint else None)
    # In-process, warm_up reads the shop and loads the live recommender version (the registry's,
    # refitted on the shop's order history and gated), or fits one on the transactions.
    loaded: list[ShopServices] = []

    def services() -> ShopServices:
        loaded.append(ShopServices.load(settings.shop_dir, settings.transactions_csv,
                                        settings.recommender_dir, orders,
                                        live_recommender=live_loader(app[REGISTRY])))
        return loaded[-1]

    runner = make_runner(settings.action_endpoint, settings.action_timeout_s, services)
    warm_up = getattr(runner, "warm_up", None)
    if warm_up is not None:
        await asyncio.to_thread(warm_up)
    app[ACTIONS] = runner
    # This worker follows the recommender versions deployed (`shopbot refit-recommender`).
    follower = (recommender_follower(app[REGISTRY], loaded[-1], app[METRICS],
                                     check_every_s=settings.model_check_every_s) if loaded else None)
    if follower is not None:
        app[RECOMMENDER] = follower
        await follower.start()
    yield
    if follower is not None:
        await follower.close()
    close = getattr(runner, "close", None)
    if close is not None:
        await close()
    close_orders = getattr(orders, "close", None)
    if close_orders is not None:
        await close_orders()
