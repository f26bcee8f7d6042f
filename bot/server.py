"""The aiohttp application factory; every heavy resource has its own cleanup context."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

from aiohttp import web

from actions.runner import make_runner
from actions.services import ShopServices
from bot import appkeys as K
from bot.auth import routes as auth_routes
from bot.auth.middleware import auth_middleware, current_user
from bot.auth.service import auth_ctx
from bot.channels import feedback, rest
from bot.channels.socketio import SOCKETIO, SocketIOChannel
from bot.dialogue.handlers import RouteHandlers
from bot.dialogue.memory import ConversationMemory, InProcessMemory, RedisMemory
from bot.dialogue.pipeline import TurnPipeline
from bot.dialogue.policy import RoutingThresholds
from bot.generation.generator import Gpt2Generator
from bot.generation.service import GenerationService, Generator
from bot.handoff import api as handoff_api
from bot.handoff.desk import HandoffDesk
from bot.handoff.escalation import EscalationPolicy
from bot.handoff.keys import DESK
from bot.handoff.live import LiveHub, RedisLiveHub
from bot.handoff.sentiment import VaderSentiment
from bot.handoff.store import HandoffStore
from bot.inference import BatchingEncoder, BatchingRouter
from bot.middleware import cors_middleware, error_middleware
from bot.settings import Settings
from monitoring import metrics as prometheus
from monitoring import promote_api, review_api
from monitoring.flags import FlagThresholds
from monitoring.metrics import METRICS, ShopbotMetrics
from monitoring.sink import TurnLogSink
from monitoring.turnlog import TurnLog
from retrieval.embeddings import SentenceEncoder
from retrieval.knowledge_base import load_knowledge_base
from retrieval.router import TrainedRouter
from retrieval.router_train import is_current
from retrieval.routing import NearestNeighbourScorer

log = logging.getLogger(__name__)

Ctx = Callable[[web.Application], AsyncIterator[None]]


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def encoder_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the sentence encoder behind its batching worker."""
    settings = app[K.SETTINGS]
    import torch

    # Two cores: one thread each for encoding and generation keeps FAQ turns fast meanwhile.
    torch.set_num_threads(settings.torch_threads)
    encoder = BatchingEncoder(
        SentenceEncoder(settings.encoder_model or None),
        settings.encode_batch_window_ms,
        settings.encode_max_batch,
    )
    await encoder.warm_up()
    app[K.ENCODER] = encoder
    yield
    encoder.close()


async def knowledge_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the FAQ, intents and products with their indexes (rebuilt when stale)."""
    kb, rebuilt = await _in_thread(partial(load_knowledge_base, app[K.SETTINGS], app[K.ENCODER].encoder))
    if rebuilt:
        log.info("rebuilt indexes: %s", ", ".join(rebuilt))
    app[K.KNOWLEDGE] = kb
    yield


async def router_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the trained router (answer, route or decline) behind its batching worker."""
    settings = app[K.SETTINGS]
    router = BatchingRouter(
        TrainedRouter(settings.router_dir), settings.encode_batch_window_ms, settings.encode_max_batch
    )
    try:
        await router.warm_up()
    except BaseException:
        router.close()
        raise
    # The knowledge base (loaded just before) holds the same entries: no second read.
    entries = list(app[K.KNOWLEDGE].entries.values())
    if not await _in_thread(is_current, settings.router_dir, entries):
        log.warning("the router was trained on other knowledge: run `shopbot train`")
    app[K.ROUTER] = router
    yield
    router.close()


def generator_ctx(generator: Generator | None) -> Ctx:
    """Load the GPT-2 generator (or the one given) on its own thread."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[K.SETTINGS]
        gen: Generator = generator or Gpt2Generator(
            settings.generator_dir, max_new_tokens=settings.generation_max_new_tokens
        )
        service = GenerationService(gen, settings.generation_timeout_s)
        await service.warm_up()
        app[K.GENERATION] = service
        yield
        service.close()

    return ctx


async def actions_ctx(app: web.Application) -> AsyncIterator[None]:
    """In-process rasa-sdk actions (with the shop's data) or the remote action server."""
    settings = app[K.SETTINGS]
    services = None if settings.action_endpoint else await _in_thread(ShopServices.load, settings)
    runner = make_runner(settings, services)
    warm_up = getattr(runner, "warm_up", None)
    if warm_up is not None:
        await _in_thread(warm_up)
    app[K.ACTIONS] = runner
    yield
    close = getattr(runner, "close", None)
    if close is not None:
        await close()


async def sink_ctx(app: web.Application) -> AsyncIterator[None]:
    """The turn log and its background writer; drained on shutdown so no turn is lost."""
    sink = TurnLogSink(TurnLog(app[K.SETTINGS].resolved_database_url()))
    await sink.start()
    sink.add_listener(app[METRICS].observe_turn)
    app[K.SINK] = sink
    yield
    await sink.close()


async def desk_ctx(app: web.Application) -> AsyncIterator[None]:
    """The handoff queue, its live console updates and the escalation rules."""
    settings = app[K.SETTINGS]
    hub = RedisLiveHub(settings.redis_url) if settings.redis_url else LiveHub()
    if isinstance(hub, RedisLiveHub):
        await hub.start()
    desk = HandoffDesk(
        HandoffStore(settings.resolved_database_url()),
        hub,
        app[K.SINK],
        policy=EscalationPolicy(settings.escalate_after_unanswered),
        sentiment=VaderSentiment(settings.negative_sentiment_threshold),
    )
    await desk.start()
    channel = app.get(SOCKETIO)
    if channel is not None:
        # Staff replies and typing reach the shopper's widget the moment they are sent.
        desk.push = channel
        channel.on_typing = desk.shopper_typing
    desk.on_change = partial(_handoff_metrics, app[METRICS])
    counts = await desk.counts()
    app[METRICS].set_handoffs(counts)
    app[METRICS].set_handoff_queue_length(counts["pending"])
    app[DESK] = desk
    yield
    await desk.close()


def _handoff_metrics(metrics: ShopbotMetrics, kind: str, handoff: Any, counts: dict[str, int]) -> None:
    if kind == "handoff_created":
        metrics.observe_handoff(handoff.reason)
    metrics.set_handoffs(counts)
    metrics.set_handoff_queue_length(counts.get("pending", 0))


async def pipeline_ctx(app: web.Application) -> AsyncIterator[None]:
    """Assemble the turn pipeline from the loaded resources."""
    settings, kb = app[K.SETTINGS], app[K.KNOWLEDGE]
    memory: ConversationMemory = (
        RedisMemory(settings.redis_url) if settings.redis_url
        else InProcessMemory(settings.memory_max_conversations)
    )
    handlers = RouteHandlers(kb, app[K.ENCODER], app[K.GENERATION], app[K.ACTIONS])
    app[K.MEMORY] = memory
    app[K.PIPELINE] = TurnPipeline(
        router=app[K.ROUTER],
        encoder=app[K.ENCODER],
        scorer=NearestNeighbourScorer(kb),
        handlers=handlers,
        memory=memory,
        sink=app[K.SINK],
        versions={
            "encoder": app[K.ENCODER].encoder.version,
            "index": kb.version,
            "router": app[K.ROUTER].router.version,
            "generator": app[K.GENERATION].generator.version,
        },
        routing=RoutingThresholds(settings.product_threshold),
        flags=FlagThresholds(
            settings.low_confidence_threshold, settings.ungrounded_threshold, settings.slow_turn_ms
        ),
        escalation=app[DESK].policy,
        desk=app[DESK],
    )
    yield
    if isinstance(memory, RedisMemory):
        await memory.close()


def _reviewer(request: web.Request) -> str:
    return current_user(request).username


async def health(request: web.Request) -> web.Response:
    """Liveness plus the versions of the loaded models and indexes."""
    pipeline = request.app.get(K.PIPELINE)
    return web.json_response({"status": "ok", "versions": pipeline.versions if pipeline else {}})


def _add_static(app: web.Application, settings: Settings) -> None:
    web_dir = settings.web_dir

    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(web_dir / "index.html")

    app.router.add_get("/", index)
    app.router.add_get("/staff", partial(_file, web_dir / "staff.html"))
    app.router.add_get("/review", partial(_file, web_dir / "review.html"))
    for name in (
        "widget.js", "widget.css", "staff.js", "staff.css", "console.css", "review.js", "review.css",
    ):
        app.router.add_get(f"/{name}", partial(_file, web_dir / name))


async def _file(path: Any, request: web.Request) -> web.FileResponse:
    if not path.exists():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Access-Control-Allow-Origin": "*"})


def create_app(settings: Settings, *, generator: Generator | None = None) -> web.Application:
    """Build the application; resources load in order at start-up and close in reverse.

    ``generator`` replaces the GPT-2 checkpoint of ``settings`` (any object with the
    ``Generator`` protocol).
    """
    app = web.Application(
        middlewares=[cors_middleware, error_middleware, auth_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[K.SETTINGS] = settings
    app[METRICS] = ShopbotMetrics()
    app.cleanup_ctx.extend(
        [
            encoder_ctx,
            knowledge_ctx,
            router_ctx,
            generator_ctx(generator),
            actions_ctx,
            sink_ctx,
            review_api.review_ctx,
            desk_ctx,
            pipeline_ctx,
            promote_api.corrections_ctx,
            auth_ctx,
        ]
    )
    auth_routes.add_routes(app)
    handoff_api.add_routes(app)
    prometheus.add_routes(app)
    review_api.add_routes(app)
    promote_api.add_routes(app)
    app[review_api.REVIEWER_OF] = _reviewer
    rest.add_routes(app)
    channel = SocketIOChannel(settings)
    channel.attach(app)
    app[SOCKETIO] = channel
    feedback.add_routes(app)
    app.router.add_get("/health", health)
    _add_static(app, settings)
    return app
