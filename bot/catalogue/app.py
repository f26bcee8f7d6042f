"""The catalogue feature: ``/api/catalogue`` and this worker's follower of the synced catalogue."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from bot.catalogue import api
from bot.catalogue.follower import CatalogueFollower
from bot.catalogue.keys import FOLLOWER
from bot.serving.encoder import ENCODER
from bot.serving.knowledge import KNOWLEDGE
from bot.web.kernel import Feature, shared
from bot.web.keys import METRICS, SETTINGS
from retrieval.catalogue.choose import catalogue_source


def create_feature() -> Feature:
    """The ``/api/catalogue`` sub-app."""
    app = web.Application()
    app.cleanup_ctx.append(follower_ctx)
    app.add_routes([web.get("", api.get_catalogue), web.post("/sync", api.sync_now)])
    return {"/api/catalogue": app}


async def follower_ctx(app: web.Application) -> AsyncIterator[None]:
    """Follow the synced catalogue; sync the source on SHOPBOT_CATALOGUE_SYNC_EVERY_S."""
    config = shared(app)
    settings = config[SETTINGS]
    # Built at start-up, so that a missing credential stops the start at once.
    source = catalogue_source(settings.catalogue_source, settings.shop_dir,
                              settings.secret(settings.catalogue_secret_env), settings.catalogue_secret_env,
                              settings.shop_url or None, settings.shop_currency or None)
    follower = CatalogueFollower(
        config[KNOWLEDGE].catalogue, source if settings.catalogue_source != "demo" else None,
        shop_dir=settings.shop_dir, index_dir=settings.index_dir, encoder=config[ENCODER].encoder,
        metrics=config[METRICS], sync_every_s=settings.catalogue_sync_every_s,
        check_every_s=min(settings.model_check_every_s, max(settings.catalogue_sync_every_s, 0.5)),
    )
    app[FOLLOWER] = follower
    await follower.start()
    yield
    await follower.close()
