"""The aiohttp application factory; every heavy resource has its own cleanup context.

The contexts run in the order listed in :func:`create_app`, and each builds its component with
every collaborator it needs, all of them built by an earlier context: nothing is patched in
afterwards. Shutdown runs them in reverse.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from actions.runner import make_runner
from actions.services import ShopServices
from bot import appkeys as K
from bot import ops
from bot.auth import routes as auth_routes
from bot.auth.middleware import auth_middleware
from bot.auth.service import auth_ctx
from bot.channels import feedback, rest
from bot.channels.ids import ConversationIds, pseudonym_key
from bot.channels.socketio import SocketIOChannel
from bot.clients import client_ip_of, parse_networks
from bot.dialogue.corrections import LiveCorrections
from bot.dialogue.handlers import OrderLookupLimits, RouteHandlers
from bot.dialogue.locks import ConversationLocks, InProcessLocks, RedisLocks
from bot.dialogue.memory import ConversationMemory, InProcessMemory, RedisMemory
from bot.dialogue.nlu import extract
from bot.dialogue.pipeline import TurnPipeline
from bot.dialogue.policy import INTENT_ROUTES, RoutingThresholds
from bot.generation.service import GenerationService, Generator, gpt2_generator
from bot.handoff import api as handoff_api
from bot.handoff.active import ActiveHandoffs
from bot.handoff.desk import HandoffDesk
from bot.handoff.escalation import EscalationPolicy
from bot.handoff.live import LiveHub, RedisLiveHub
from bot.handoff.sentiment import VaderSentiment
from bot.handoff.store import HandoffStore
from bot.identity import IdentityVerifier
from bot.inference import BatchingEncoder, BatchingUnderstanding
from bot.knowledge import current_entries
from bot.lifecycle import api as models_api
from bot.lifecycle.live import LiveModel, VersionedEncoder, VersionedGenerator
from bot.lifecycle.registry import ModelKind, ModelRegistry
from bot.lifecycle.service import FAST_DIR, MODEL_DIR, ModelLifecycle, lifecycle_config
from bot.limits import window
from bot.middleware import cors_middleware, error_middleware
from bot.rasa.actions import project_actions
from bot.rasa.knowledge import project_entries
from bot.rasa.payload import extract_with_payloads
from bot.rasa.responder import RasaResponder
from bot.rasa.slots import InProcessSlots, RedisSlots
from bot.review import api as review_api
from bot.review import drift as drift_api
from bot.review import promote as promote_api
from bot.review.store import ReviewStore
from bot.schema import create_tables
from bot.transcripts import Transcripts
from core.db import make_engine
from core.settings import Settings
from monitoring.flags import FlagThresholds
from monitoring.journal import TurnJournal
from monitoring.metrics import ShopbotMetrics
from monitoring.records import RecordFactory
from monitoring.redact import public_details
from monitoring.sink import TurnLogSink
from monitoring.turnlog import TurnLog
from retrieval.corrections import CorrectionStore
from retrieval.embeddings import sentence_encoder
from retrieval.index import set_search_threads
from retrieval.knowledge_base import load_knowledge_base
from retrieval.product_names import ProductNames
from retrieval.rasa_project import load_rasa_project
from retrieval.router_train import is_current
from retrieval.routing import NearestNeighbourScorer
from retrieval.turn_encoder import TurnEncoder, turn_encoder
from retrieval.understanding import Understanding

log = logging.getLogger(__name__)

Ctx = Callable[[web.Application], AsyncIterator[None]]
T = TypeVar("T")


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    """One Redis client for memory, locks, limits and live events (only with SHOPBOT_REDIS_URL)."""
    url = app[K.SETTINGS].redis_url
    if not url:
        yield
        return
    import redis.asyncio as aioredis

    # Short timeouts: Redis being away must cost a turn milliseconds, not seconds.
    client = aioredis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
    app[K.REDIS] = client
    yield
    await client.aclose()


async def db_ctx(app: web.Application) -> AsyncIterator[None]:
    """One engine and pool for the whole application; every store shares it."""
    engine = make_engine(app[K.SETTINGS].resolved_database_url())
    await _in_thread(create_tables, engine)
    app[K.ENGINE] = engine
    yield
    engine.dispose()


async def encoder_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the sentence encoder (product queries, corrections, indexes) behind its batching worker."""
    settings = app[K.SETTINGS]
    encoder = BatchingEncoder(
        sentence_encoder(settings.inference_backend, settings.encoder_dir, settings.encoder_model,
                         settings.inference_threads),
        settings.encode_max_batch,
        on_batch=partial(app[K.METRICS].observe_batch, "encode"),
    )
    await encoder.warm_up()
    app[K.ENCODER] = encoder
    yield
    encoder.close()


async def rasa_ctx(app: web.Application) -> AsyncIterator[None]:
    """A Rasa project's turns, slots and custom actions (only with SHOPBOT_RASA_PROJECT)."""
    settings = app[K.SETTINGS]
    if settings.rasa_project is None:
        yield
        return
    project = await _in_thread(load_rasa_project, settings.rasa_project)
    actions = project_actions(project.action_endpoint, project.actions_path, settings.action_timeout_s)
    if actions is not None:
        await _in_thread(actions.warm_up)  # imports the project's own actions, off the event loop
    redis = app.get(K.REDIS)
    slots = RedisSlots(redis) if redis is not None else InProcessSlots(settings.memory_max_conversations)
    app[K.RASA] = RasaResponder(project, slots, actions)
    log.info("Rasa project %s: %d intents, %d answered; %d parts listed by `shopbot rasa-check`",
             project.root, len(project.entries), len(project.turns), len(project.issues))
    yield
    if actions is not None:
        await actions.close()


async def knowledge_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the FAQ, intents (or a Rasa project's intents) and products with their indexes."""
    settings, rasa = app[K.SETTINGS], app.get(K.RASA)
    if rasa is not None:
        entries = await _in_thread(project_entries, rasa.project, app[K.ENGINE])
    else:
        entries = await _in_thread(current_entries, settings, app[K.ENGINE])
    kb, rebuilt = await _in_thread(partial(
        load_knowledge_base, entries, settings.shop_dir, settings.index_dir, app[K.ENCODER].encoder
    ))
    if rebuilt:
        log.info("rebuilt indexes: %s", ", ".join(rebuilt))
    app[K.KNOWLEDGE] = kb
    thresholds = FlagThresholds(
        settings.low_confidence_threshold, settings.ungrounded_threshold, settings.slow_turn_ms,
        unfamiliar=settings.unfamiliar_threshold,
    )
    # The shop's own contact details in its answers are public, not personal: redaction keeps them.
    public = public_details(e.answer for e in entries if e.answer)
    app[K.RECORDS] = RecordFactory(thresholds, public)
    yield


async def understanding_ctx(app: web.Application) -> AsyncIterator[None]:
    """The trained router, the retrieval embedding and the FAISS search of each message, batched."""
    settings = app[K.SETTINGS]
    # One model thread per worker: FAISS's own OpenMP threads would only fight it for the cores.
    set_search_threads(settings.inference_threads)
    registry = ModelRegistry(app[K.ENGINE], settings.resolved_models_dir)
    app[K.REGISTRY] = registry
    encoder_of = partial(turn_encoder, settings.inference_backend, threads=settings.inference_threads)
    # The registry's live version; before the first deploy (or when SHOPBOT_ROUTER_MODEL pins
    # one) the seed router under settings.router_dir.
    live = None if settings.router_model else await _in_thread(registry.live, ModelKind.ROUTER)
    if live is not None:
        await _in_thread(registry.verify, live)
        encoder: TurnEncoder = VersionedEncoder(encoder_of(live.path), live.version)
    else:
        encoder = encoder_of(settings.router_dir)
    understanding = BatchingUnderstanding(
        Understanding(
            encoder,
            NearestNeighbourScorer(app[K.KNOWLEDGE]),
            ProductNames(list(app[K.KNOWLEDGE].product_by_code.values())),
        ),
        settings.encode_max_batch,
        on_batch=partial(app[K.METRICS].observe_batch, "turn"),
    )
    try:
        await understanding.warm_up()
    except BaseException:
        understanding.close()
        raise
    # The knowledge base (loaded just before) holds the same entries: no second read.
    entries = list(app[K.KNOWLEDGE].entries.values())
    if not await _in_thread(is_current, live.path if live else settings.router_dir, entries):
        log.warning("the router was trained on other knowledge: run `shopbot train`, then "
                    "`shopbot evaluate` and `shopbot deploy`")
    app[K.UNDERSTANDING] = understanding
    yield
    understanding.close()


def _generator_of(settings: Settings, path: Path) -> Generator:
    """A registered generator version's checkpoint and ONNX export (bot/lifecycle/service.py)."""
    return gpt2_generator(settings.generation_backend, path / MODEL_DIR, path / FAST_DIR,
                          max_new_tokens=settings.generation_max_new_tokens,
                          threads=settings.generation_threads)


def generator_ctx(generator: Generator | None) -> Ctx:
    """Load the GPT-2 generator (or the one given) on its own thread."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[K.SETTINGS]
        # The registry's live generator; before the first deploy (or when SHOPBOT_GENERATOR_MODEL
        # pins one) the seed checkpoint under settings.generator_dir.
        live = (None if generator is not None or settings.generator_model
                else await _in_thread(app[K.REGISTRY].live, ModelKind.GENERATOR))
        if live is not None:
            await _in_thread(app[K.REGISTRY].verify, live)
        gen: Generator = generator or (
            VersionedGenerator(_generator_of(settings, live.path), live.version) if live is not None
            else gpt2_generator(
                settings.generation_backend, settings.generator_dir, settings.var_dir / "generator-fast",
                max_new_tokens=settings.generation_max_new_tokens, threads=settings.generation_threads))
        service = GenerationService(gen, settings.generation_timeout_s)
        await service.warm_up()
        app[K.GENERATION] = service
        yield
        service.close()

    return ctx


async def actions_ctx(app: web.Application) -> AsyncIterator[None]:
    """In-process rasa-sdk actions (with the shop's data) or the remote action server."""
    settings = app[K.SETTINGS]
    # In-process, warm_up reads the shop and loads or fits the recommender (off the event loop).
    services = partial(ShopServices.load, settings.shop_dir, settings.transactions_csv,
                       settings.recommender_dir)
    runner = make_runner(settings.action_endpoint, settings.action_timeout_s, services)
    warm_up = getattr(runner, "warm_up", None)
    if warm_up is not None:
        await _in_thread(warm_up)
    app[K.ACTIONS] = runner
    yield
    close = getattr(runner, "close", None)
    if close is not None:
        await close()


async def sink_ctx(app: web.Application) -> AsyncIterator[None]:
    """The turn log's background writer (drained on shutdown so no turn is lost) and its readers."""
    settings, engine = app[K.SETTINGS], app[K.ENGINE]
    journal = TurnJournal(settings.journal_path, fsync=settings.journal_fsync)
    sink = TurnLogSink(TurnLog(engine), journal, listeners=[app[K.METRICS].observe_turn],
                       drain_on_close_s=settings.journal_drain_on_stop_s)
    await sink.start()
    app[K.SINK] = sink
    app[K.TRANSCRIPTS] = Transcripts(engine)
    app[K.REVIEW_STORE] = ReviewStore(engine)
    yield
    await sink.close()


async def corrections_ctx(app: web.Application) -> AsyncIterator[None]:
    """The auditors' promoted corrections and their live matcher (needs the encoder)."""
    live = LiveCorrections(
        CorrectionStore(app[K.ENGINE]), app[K.ENCODER], threshold=app[K.SETTINGS].correction_match_threshold
    )
    await live.refresh(force=True)
    app[K.CORRECTIONS] = live
    yield


async def desk_ctx(app: web.Application) -> AsyncIterator[None]:
    """The handoff queue, its live console updates and the escalation rules."""
    settings, redis = app[K.SETTINGS], app.get(K.REDIS)
    active = ActiveHandoffs()
    # Every worker's queue changes reach this worker's view of the queue through the hub.
    hub = RedisLiveHub(redis, active.on_event) if redis is not None else LiveHub(active.on_event)
    if isinstance(hub, RedisLiveHub):
        await hub.start()
    metrics = app[K.METRICS]
    desk = HandoffDesk(
        HandoffStore(app[K.ENGINE]),
        hub,
        app[K.SINK],
        app[K.RECORDS],
        policy=EscalationPolicy(settings.escalate_after_unanswered),
        sentiment=VaderSentiment(settings.negative_sentiment_threshold),
        active=active,
        # Staff replies and typing reach the shopper's widget the moment they are sent.
        push=app[K.SOCKETIO],
        on_change=partial(_handoff_metrics, metrics),
    )
    await desk.start()
    counts = await desk.counts()
    metrics.set_handoffs(counts)
    metrics.set_handoff_queue_length(counts["pending"])
    app[K.DESK] = desk
    yield
    await desk.close()


def _handoff_metrics(metrics: ShopbotMetrics, kind: str, handoff: Any, counts: dict[str, int]) -> None:
    if kind == "handoff_created":
        metrics.observe_handoff(handoff.reason)
    metrics.set_handoffs(counts)
    metrics.set_handoff_queue_length(counts.get("pending", 0))


def _warm(model: T) -> T:
    model.warm_up()  # type: ignore[attr-defined]
    return model


def _registered(model: Any) -> str | None:
    """The registry version a loaded model was built from (None: a seed or pinned model)."""
    return model.name if isinstance(model, VersionedEncoder | VersionedGenerator) else None


def lifecycle_ctx(generator_given: bool) -> Ctx:
    """Follow the registry's live router and generator (unless pinned) and serve /api/models."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings, rasa, registry, metrics = app[K.SETTINGS], app.get(K.RASA), app[K.REGISTRY], app[K.METRICS]
        routes = rasa.intent_routes(INTENT_ROUTES) if rasa is not None else dict(INTENT_ROUTES)
        app[K.LIFECYCLE] = ModelLifecycle(
            app[K.REGISTRY],
            app[K.KNOWLEDGE],
            lifecycle_config(settings, RoutingThresholds(settings.product_threshold, routes),
                             app[K.RECORDS].thresholds),
        )
        understanding, generation = app[K.UNDERSTANDING].understanding, app[K.GENERATION]
        encoder_of = partial(turn_encoder, settings.inference_backend, threads=settings.inference_threads)
        followers: dict[ModelKind, LiveModel[Any]] = {
            ModelKind.ROUTER: LiveModel(
                ModelKind.ROUTER, registry, lambda v: _warm(VersionedEncoder(encoder_of(v.path), v.version)),
                understanding.swap, metrics, serving=_registered(understanding.encoder),
                check_every_s=settings.model_check_every_s),
            ModelKind.GENERATOR: LiveModel(
                ModelKind.GENERATOR, registry,
                lambda v: _warm(VersionedGenerator(_generator_of(settings, v.path), v.version)),
                generation.swap, metrics, serving=_registered(generation.generator),
                check_every_s=settings.model_check_every_s),
        }
        app[K.LIVE_MODELS] = followers
        pinned = {ModelKind.ROUTER: bool(settings.router_model),
                  ModelKind.GENERATOR: bool(settings.generator_model) or generator_given}
        for kind, follower in followers.items():
            live = await _in_thread(registry.live, kind)
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


async def pipeline_ctx(app: web.Application) -> AsyncIterator[None]:
    """Assemble the turn pipeline from the loaded resources."""
    settings, kb, corrections = app[K.SETTINGS], app[K.KNOWLEDGE], app[K.CORRECTIONS]
    redis = app.get(K.REDIS)
    memory: ConversationMemory
    locks: ConversationLocks
    if redis is not None:
        memory, locks = RedisMemory(redis), RedisLocks(redis)
    else:
        memory, locks = InProcessMemory(settings.memory_max_conversations), InProcessLocks()
    lookups = OrderLookupLimits(
        window(redis, "lookups-conversation", settings.order_lookups_per_conversation,
               settings.order_lookups_window_s),
        window(redis, "lookups-ip", settings.order_lookups_per_ip, settings.order_lookups_window_s),
    )
    rasa = app.get(K.RASA)
    handlers = RouteHandlers(kb, app[K.ENCODER], app[K.GENERATION], app[K.ACTIONS],
                             promoted=corrections.entry, lookups=lookups, project=rasa)
    routes = rasa.intent_routes(INTENT_ROUTES) if rasa is not None else dict(INTENT_ROUTES)
    app[K.MEMORY] = memory
    app[K.PIPELINE] = TurnPipeline(
        understanding=app[K.UNDERSTANDING],
        handlers=handlers,
        memory=memory,
        sink=app[K.SINK],
        records=app[K.RECORDS],
        versions=partial(_versions, app),
        routing=RoutingThresholds(settings.product_threshold, routes),
        escalation=app[K.DESK].policy,
        locks=locks,
        identity=IdentityVerifier(settings.secret(settings.identity_secret_env)),
        desk=app[K.DESK],
        corrections=corrections,
        entities=extract_with_payloads if rasa is not None else extract,
    )
    yield


def _versions(app: web.Application) -> dict[str, str]:
    """The versions answering now (the router's is replaced by the one that routed the turn)."""
    return {
        "encoder": app[K.ENCODER].encoder.version,
        "index": app[K.KNOWLEDGE].version,
        "router": app[K.UNDERSTANDING].understanding.version,
        "generator": app[K.GENERATION].generator.version,
    }


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
    app[K.METRICS] = ShopbotMetrics()
    app[K.CLIENT_IP] = client_ip_of(parse_networks(settings.trusted_proxies))
    app[K.CONVERSATION_IDS] = ConversationIds(
        pseudonym_key(settings.secret(settings.pseudonym_secret_env), settings.var_dir)
    )
    # The socket.io transport exists before start-up: its routes must be mounted now, and the
    # handoff desk is built with it as its push channel.
    channel = SocketIOChannel(
        max_message_chars=settings.max_message_chars,
        max_body_bytes=settings.max_body_bytes,
        redis_url=settings.redis_url,
        client_js=settings.web_dir / "vendor" / "socket.io.min.js",
    )
    channel.attach(app)
    app[K.SOCKETIO] = channel
    app.cleanup_ctx.extend(
        [
            redis_ctx,
            db_ctx,
            encoder_ctx,
            rasa_ctx,
            knowledge_ctx,
            understanding_ctx,
            generator_ctx(generator),
            actions_ctx,
            sink_ctx,
            corrections_ctx,
            desk_ctx,
            pipeline_ctx,
            lifecycle_ctx(generator is not None),
            auth_ctx,
        ]
    )
    auth_routes.add_routes(app)
    handoff_api.add_routes(app)
    review_api.add_routes(app)
    promote_api.add_routes(app)
    drift_api.add_routes(app)
    models_api.add_routes(app)
    rest.add_routes(app)
    feedback.add_routes(app)
    ops.add_routes(app)
    _add_static(app, settings)
    return app
