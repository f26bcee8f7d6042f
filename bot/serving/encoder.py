"""The sentence encoder outside the turn path: product queries, corrections, index builds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

from aiohttp import web

from bot.engine.inference import BatchingEncoder
from bot.web.keys import METRICS, SETTINGS
from retrieval.embeddings import sentence_encoder

ENCODER = web.AppKey("encoder", BatchingEncoder)


async def encoder_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the sentence encoder behind its batching worker."""
    settings = app[SETTINGS]
    encoder = BatchingEncoder(
        sentence_encoder(settings.inference_backend, settings.encoder_dir, settings.encoder_model,
                         settings.inference_threads),
        settings.encode_max_batch,
        on_batch=partial(app[METRICS].observe_batch, "encode"),
    )
    await encoder.warm_up()
    app[ENCODER] = encoder
    yield
    encoder.close()
