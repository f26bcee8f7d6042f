"""The handoff desk: the queue of conversations for a person, its live updates, escalation rules."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

from aiohttp import web

from bot.handoff.active import ActiveHandoffs
from bot.handoff.desk import HandoffDesk, ShopperPush
from bot.handoff.escalation import EscalationPolicy
from bot.handoff.live import LiveHub, RedisLiveHub
from bot.handoff.sentiment import VaderSentiment
from bot.handoff.store import HandoffStore
from bot.rasa.escalation import automatic_escalation
from bot.serving.knowledge import RASA
from bot.serving.turnlog import RECORDS, SINK
from bot.web.keys import ENGINE, METRICS, REDIS, SETTINGS
from monitoring.metrics import ShopbotMetrics

log = logging.getLogger(__name__)

DESK = web.AppKey("handoff_desk", HandoffDesk)

Ctx = Callable[[web.Application], AsyncIterator[None]]


def desk_ctx(push: ShopperPush) -> Ctx:
    """The desk; staff replies and typing reach the shopper's widget through ``push``."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings, redis = app[SETTINGS], app.get(REDIS)
        active = ActiveHandoffs()
        # Every worker's queue changes reach this worker's view of the queue through the hub.
        hub = RedisLiveHub(redis, active.on_event) if redis is not None else LiveHub(active.on_event)
        if isinstance(hub, RedisLiveHub):
            await hub.start()
        metrics = app[METRICS]
        rasa = app.get(RASA)
        # A Rasa project answers sadness and fallbacks itself unless it asks for the shop's staff.
        automatic = rasa is None or automatic_escalation(settings.rasa_escalation, rasa.project.domain)
        if not automatic:
            why = "its domain names no handoff intent or action" if settings.rasa_escalation == "auto" \
                else "SHOPBOT_RASA_ESCALATION=off"
            log.info("Rasa project: no automatic escalation (%s); a shopper's /handoff still reaches "
                     "a person", why)
        desk = HandoffDesk(
            HandoffStore(app[ENGINE]),
            hub,
            app[SINK],
            app[RECORDS],
            policy=EscalationPolicy(settings.escalate_after_unanswered, app[RECORDS].thresholds,
                                    automatic=automatic),
            sentiment=VaderSentiment(settings.negative_sentiment_threshold),
            active=active,
            push=push,
            on_change=partial(_handoff_metrics, metrics),
        )
        await desk.start()
        counts = await desk.counts()
        metrics.set_handoffs(counts)
        metrics.set_handoff_queue_length(counts["pending"])
        app[DESK] = desk
        yield
        await desk.close()

    return ctx


def _handoff_metrics(metrics: ShopbotMetrics, kind: str, handoff: Any, counts: dict[str, int]) -> None:
    if kind == "handoff_created":
        metrics.observe_handoff(handoff.reason)
    metrics.set_handoffs(counts)
    metrics.set_handoff_queue_length(counts.get("pending", 0))
