"""The rasa-sdk actions: in-process with the shop's data, or a remote action server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial

from aiohttp import web

from actions.runner import ActionRunner, make_runner
from actions.services import ShopServices
from bot.web.keys import SETTINGS

ACTIONS = web.AppKey("actions", ActionRunner)


async def actions_ctx(app: web.Application) -> AsyncIterator[None]:
    """In-process rasa-sdk actions (with the shop's data) or the remote action server."""
    settings = app[SETTINGS]
    # In-process, warm_up reads the shop and loads or fits the recommender (off the event loop).
    services = partial(ShopServices.load, settings.shop_dir, settings.transactions_csv,
                       settings.recommender_dir)
    runner = make_runner(settings.action_endpoint, settings.action_timeout_s, services)
    warm_up = getattr(runner, "warm_up", None)
    if warm_up is not None:
        await asyncio.to_thread(warm_up)
    app[ACTIONS] = runner
    yield
    close = getattr(runner, "close", None)
    if close is not None:
        await close()
