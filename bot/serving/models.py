"""The served models: the router's turn encoder (with the FAISS search) and the GPT-2 generator.

Each is the registry's live version, or before the first deploy (or when a setting pins one)
the seed model ``shopbot setup`` trained; the models feature follows later deploys.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from functools import partial

from aiohttp import web

from bot.engine.inference import BatchingUnderstanding
from bot.generation.backends import gpt2_generator
from bot.generation.service import GenerationService, Generator
from bot.lifecycle.live import VersionedEncoder, VersionedGenerator, generator_version
from bot.lifecycle.registry import ModelKind, ModelRegistry
from bot.serving.knowledge import KNOWLEDGE
from bot.web.keys import ENGINE, METRICS, SETTINGS
from retrieval.index import set_search_threads
from retrieval.router_train import is_current
from retrieval.turn_encoder import TurnEncoder, profile_of, turn_encoder
from retrieval.understanding import understanding_of

log = logging.getLogger(__name__)

REGISTRY = web.AppKey("registry", ModelRegistry)
# A message's decision, embedding and nearest knowledge: one pass, one search (bot/engine/inference.py).
UNDERSTANDING = web.AppKey("understanding", BatchingUnderstanding)
GENERATION = web.AppKey("generation", GenerationService)

Ctx = Callable[[web.Application], AsyncIterator[None]]


async def understanding_ctx(app: web.Application) -> AsyncIterator[None]:
    """The model registry, and the router's turn encoder with the knowledge's search, batched."""
    settings = app[SETTINGS]
    # One model thread per worker: FAISS's own OpenMP threads would only fight it for the cores.
    set_search_threads(settings.inference_threads)
    registry = ModelRegistry(app[ENGINE], settings.resolved_models_dir)
    app[REGISTRY] = registry
    encoder_of = partial(turn_encoder, settings.inference_backend, threads=settings.inference_threads,
                         mpnet_dir=settings.mpnet_dir, device=settings.device, mpnet_runs=settings.mpnet_runs)
    # The registry's live version; before the first deploy (or when SHOPBOT_ROUTER_MODEL pins
    # one) the seed router under settings.router_dir.
    live = None if settings.router_model else await asyncio.to_thread(registry.live, ModelKind.ROUTER)
    if live is not None:
        await asyncio.to_thread(registry.verify, live)
        encoder: TurnEncoder = VersionedEncoder(encoder_of(live.path), live.version)
    else:
        encoder = encoder_of(settings.router_dir)
    router_path = live.path if live is not None else settings.router_dir
    accurate = await asyncio.to_thread(profile_of, router_path) == "accurate"
    kb = app[KNOWLEDGE]
    understanding = BatchingUnderstanding(
        understanding_of(encoder, kb),
        settings.encode_max_batch,
        on_batch=partial(app[METRICS].observe_batch, "turn"),
        # The accurate profile: two batches in flight, so one's MiniLM pass overlaps the other's
        # mpnet pass (91-96 turns/s at 64 sessions with one, 102-109 with two, docs/quality.md).
        # Chosen at start from the router served then; a deploy keeps it until the next start.
        lanes=2 if accurate else 1,
    )
    try:
        await understanding.warm_up()
    except BaseException:
        understanding.close()
        raise
    # The knowledge base (loaded just before) holds the same entries: no second read.
    entries = list(kb.entries.values())
    if not await asyncio.to_thread(is_current, router_path, entries):
        log.warning("the router was trained on other knowledge: run `shopbot train`, then "
                    "`shopbot evaluate` and `shopbot deploy`")
    app[UNDERSTANDING] = understanding
    yield
    understanding.close()


def generator_ctx(generator: Generator | None) -> Ctx:
    """Load the GPT-2 generator (or the one given) on its own thread."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        # The registry's live generator; before the first deploy (or when SHOPBOT_GENERATOR_MODEL
        # pins one) the seed checkpoint under settings.generator_dir.
        live = (None if generator is not None or settings.generator_model
                else await asyncio.to_thread(app[REGISTRY].live, ModelKind.GENERATOR))
        if live is not None:
            await asyncio.to_thread(app[REGISTRY].verify, live)
        gen: Generator = generator or (
            VersionedGenerator(
                generator_version(live.path, settings.generation_backend,
                                  max_new_tokens=settings.generation_max_new_tokens,
                                  threads=settings.generation_threads),
                live.version)
            if live is not None
            else gpt2_generator(
                settings.generation_backend, settings.generator_dir, settings.var_dir / "generator-fast",
                max_new_tokens=settings.generation_max_new_tokens, threads=settings.generation_threads))
        service = GenerationService(gen, settings.generation_timeout_s)
        await service.warm_up()
        app[GENERATION] = service
        yield
        service.close()

    return ctx
