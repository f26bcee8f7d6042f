"""The model operations feature: ``/api/models`` and the followers of the live versions.

Every worker follows the registry's live router and generator (unless a setting pins one) and
swaps to a newly deployed version without a restart (``bot/lifecycle/live.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any, TypeVar

from aiohttp import web

from bot.lifecycle.live import LiveModel, VersionedEncoder, VersionedGenerator, generator_version
from bot.lifecycle.registry import ModelKind
from bot.models.api import ROUTES
from bot.models.jobs import ModelJobs
from bot.models.keys import JOBS, LIVE_MODELS
from bot.serving.models import GENERATION, REGISTRY, UNDERSTANDING
from bot.web.kernel import Feature, shared
from bot.web.keys import METRICS, SETTINGS
from core.settings import Settings
from retrieval.turn_encoder import turn_encoder

log = logging.getLogger(__name__)
T = TypeVar("T")

Ctx = Callable[[web.Application], AsyncIterator[None]]


def create_feature(settings: Settings, *, generator_pinned: bool = False) -> Feature:
    """The ``/api/models`` sub-app; ``generator_pinned``: the generator was given, not deployed."""
    app = web.Application()
    app[JOBS] = ModelJobs(settings)
    app.cleanup_ctx.append(followers_ctx(generator_pinned))
    app.add_routes(ROUTES)
    return {"/api/models": app}


def _warm(model: T) -> T:
    model.warm_up()  # type: ignore[attr-defined]
    return model


def _registered(model: Any) -> str | None:
    """The registry version a loaded model was built from (None: a seed or pinned model)."""
    return model.name if isinstance(model, VersionedEncoder | VersionedGenerator) else None


def followers_ctx(generator_pinned: bool) -> Ctx:
    """Follow the registry's live router and generator, unless their settings pin them."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        config = shared(app)
        settings, registry, metrics = config[SETTINGS], config[REGISTRY], config[METRICS]
        understanding, generation = config[UNDERSTANDING].understanding, config[GENERATION]
        encoder_of = partial(turn_encoder, settings.inference_backend, threads=settings.inference_threads,
                             mpnet_dir=settings.mpnet_dir, device=settings.device)
        generator_of = partial(generator_version, backend=settings.generation_backend,
                               max_new_tokens=settings.generation_max_new_tokens,
                               threads=settings.generation_threads)
        followers: dict[ModelKind, LiveModel[Any]] = {
            ModelKind.ROUTER: LiveModel(
                ModelKind.ROUTER, registry, lambda v: _warm(VersionedEncoder(encoder_of(v.path), v.version)),
                understanding.swap, metrics, serving=_registered(understanding.encoder),
                check_every_s=settings.model_check_every_s),
            ModelKind.GENERATOR: LiveModel(
                ModelKind.GENERATOR, registry,
                lambda v: _warm(VersionedGenerator(generator_of(v.path), v.version)),
                generation.swap, metrics, serving=_registered(generation.generator),
                check_every_s=settings.model_check_every_s),
        }
        app[LIVE_MODELS] = followers
        pinned = {ModelKind.ROUTER: bool(settings.router_model),
                  ModelKind.GENERATOR: bool(settings.generator_model) or generator_pinned}
        for kind, follower in followers.items():
            live = await asyncio.to_thread(registry.live, kind)
            if live is not None and live.version == follower.serving:
                follower.announce(live)
            if pinned[kind]:
                log.info("%s pinned by its setting: deploys are not followed", kind)
            else:
                await follower.start()
        yield
        for follower in followers.values():
            await follower.close()

    return ctx
