"""The turn engine, assembled from the resources loaded before it, and the auditors' corrections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial

from aiohttp import web

from bot.engine.context import ContextReader
from bot.engine.corrections import LiveCorrections
from bot.engine.handlers import OrderLookupLimits, RouteHandlers
from bot.engine.identity import IdentityVerifier
from bot.engine.language import LanguageDetector
from bot.engine.locks import ConversationLocks, InProcessLocks, RedisLocks
from bot.engine.memory import ConversationMemory, InProcessMemory, RedisMemory
from bot.engine.nlu import reader
from bot.engine.pipeline import TurnPipeline
from bot.engine.policy import INTENT_ROUTES, RoutingThresholds
from bot.engine.state_backup import STATE_TTL_S, StateBackup
from bot.limits import window
from bot.rasa.payload import extract_with_payloads
from bot.serving.actions import ACTIONS
from bot.serving.desk import DESK
from bot.serving.encoder import ENCODER
from bot.serving.knowledge import KNOWLEDGE, RASA
from bot.serving.models import GENERATION, UNDERSTANDING
from bot.serving.turnlog import RECORDS, SINK
from bot.web.keys import ENGINE, REDIS, REDIS_OUTAGE, SETTINGS, STATE_KEY, VERSIONS
from retrieval.corrections import CorrectionStore

CORRECTIONS = web.AppKey("corrections", LiveCorrections)
MEMORY = web.AppKey("memory", ConversationMemory)
PIPELINE = web.AppKey("pipeline", TurnPipeline)


async def corrections_ctx(app: web.Application) -> AsyncIterator[None]:
    """The auditors' promoted corrections and their live matcher (needs the encoder)."""
    live = LiveCorrections(
        CorrectionStore(app[ENGINE]), app[ENCODER], threshold=app[SETTINGS].correction_match_threshold
    )
    await live.refresh(force=True)
    app[CORRECTIONS] = live
    yield


def routing_thresholds(app: web.Application) -> RoutingThresholds:
    """The policy's thresholds and intent routes (a Rasa project's own, when one runs)."""
    rasa = app.get(RASA)
    routes = rasa.intent_routes(INTENT_ROUTES) if rasa is not None else dict(INTENT_ROUTES)
    return RoutingThresholds(app[SETTINGS].product_threshold, routes)


async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
    """Assemble the turn engine; it answers every channel's messages."""
    settings, kb, corrections = app[SETTINGS], app[KNOWLEDGE], app[CORRECTIONS]
    redis, outage = app.get(REDIS), app.get(REDIS_OUTAGE)
    memory: ConversationMemory
    locks: ConversationLocks
    if redis is not None:
        backup = StateBackup(app[ENGINE], "slots", app[STATE_KEY], STATE_TTL_S)
        memory = RedisMemory(redis, ttl_s=STATE_TTL_S, outage=outage, backup=backup)
        locks = RedisLocks(redis, outage=outage)
    else:
        memory, locks = InProcessMemory(settings.memory_max_conversations), InProcessLocks()
    lookups = OrderLookupLimits(
        window(redis, "lookups-conversation", settings.order_lookups_per_conversation,
               settings.order_lookups_window_s, outage=outage),
        window(redis, "lookups-ip", settings.order_lookups_per_ip, settings.order_lookups_window_s,
               outage=outage),
    )
    rasa = app.get(RASA)
    typed = reader(settings.order_number_pattern)
    handlers = RouteHandlers(kb, app[ENCODER], app[GENERATION], app[ACTIONS],
                             promoted=corrections.entry, lookups=lookups, project=rasa)
    app[MEMORY] = memory
    # The catalogue's names are the shop's English; the language models load off the loop.
    language = LanguageDetector(p.name for p in kb.product_by_code.values())
    await asyncio.to_thread(language.warm_up)
    app[PIPELINE] = TurnPipeline(
        understanding=app[UNDERSTANDING],
        handlers=handlers,
        memory=memory,
        sink=app[SINK],
        records=app[RECORDS],
        versions=lambda: _versions(app),
        routing=routing_thresholds(app),
        escalation=app[DESK].policy,
        locks=locks,
        identity=IdentityVerifier(settings.secret(settings.identity_secret_env),
                                  max_age_s=settings.identity_token_max_age_s,
                                  accept_untimed=settings.identity_accept_untimed_tokens),
        desk=app[DESK],
        corrections=corrections,
        entities=partial(extract_with_payloads, typed=typed) if rasa is not None else typed,
        context=ContextReader(kb.catalogue.products, kb.entries),
        language=language,
    )
    app[VERSIONS] = lambda: _versions(app)
    yield


def _versions(app: web.Application) -> dict[str, str]:
    """The versions answering now (the router's is replaced by the one that routed the turn)."""
    return {
        "encoder": app[ENCODER].encoder.version,
        "index": app[KNOWLEDGE].version,
        "router": app[UNDERSTANDING].understanding.version,
        "generator": app[GENERATION].generator.version,
    }
