"""The rasa-sdk actions: in-process with the shop's data, or a remote action server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial

from aiohttp import web

from actions.orders.choose import live_order_source
from actions.runner import ActionRunner, make_runner
from actions.services import ShopServices
from bot.web.keys import SETTINGS

ACTIONS = web.AppKey("actions", ActionRunner)


async def actions_ctx(app: web.Application) -> AsyncIterator[None]:
    """In-process rasa-sdk actions (with the shop's data and its order source) or the remote
    action server (which builds its own from the same settings)."""
    settings = app[SETTINGS]
    # Built here, before anything loads, so a missing secret stops the start at once.
    orders = (live_order_source(settings.orders_source, settings.secret(settings.orders_secret_env),
                                settings.orders_secret_env)
              if not settings.action_endpoint else None)
    # In-process, warm_up reads the shop and loads or fits the recommender (off the event loop).
    services = partial(ShopServices.load, settings.shop_dir, settings.transactions_csv,
                       settings.recommender_dir, orders)
    runner = make_runner(settings.action_endpoint, settings.action_timeout_s, services)
    warm_up = getattr(runner, "warm_up", None)
    if warm_up is not None:
        await asyncio.to_thread(warm_up)
    app[ACTIONS] = runner
    yield
    close = getattr(runner, "close", None)
    if close is not None:
        await close()
    close_orders = getattr(orders, "close", None)
    if close_orders is not None:
        await close_orders()
