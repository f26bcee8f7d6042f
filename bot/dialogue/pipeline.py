"""The turn pipeline: (route ∥ embed → search) → decide → handle → flag → log."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.dialogue import replies
from bot.dialogue.handlers import HandlerResult, RouteHandlers, TurnContext
from bot.dialogue.memory import ConversationMemory
from bot.dialogue.messages import BotMessage
from bot.dialogue.nlu import extract
from bot.dialogue.policy import Decision, RoutingThresholds, decide
from bot.errors import ShopbotError
from bot.inference import BatchingEncoder, BatchingRouter
from monitoring.flags import FlagThresholds, compute_flags
from monitoring.redact import redact
from monitoring.schema import Hit, Route, TurnRecord
from monitoring.sink import TurnLogSink
from retrieval.router import RouterOutput
from retrieval.routing import NearestNeighbourScorer, RoutingScores

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TurnInput:
    """One shopper message as a channel hands it over."""

    conversation_id: str
    text: str
    channel: str = "rest"
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TurnResult:
    """The bot's messages and the logged record of the turn."""

    turn_id: str
    messages: tuple[BotMessage, ...]
    record: TurnRecord


class TurnPipeline:
    """Answers one message end to end; every turn, failed or not, is logged."""

    def __init__(
        self,
        *,
        router: BatchingRouter,
        encoder: BatchingEncoder,
        scorer: NearestNeighbourScorer,
        handlers: RouteHandlers,
        memory: ConversationMemory,
        sink: TurnLogSink,
        versions: dict[str, str],
        routing: RoutingThresholds,
        flags: FlagThresholds,
    ) -> None:
        self.router = router
        self.encoder = encoder
        self.scorer = scorer
        self.handlers = handlers
        self.memory = memory
        self.sink = sink
        self.versions = versions
        self.routing = routing
        self.flag_thresholds = flags

    async def run(self, turn: TurnInput) -> TurnResult:
        """Answer ``turn`` and queue its record for the log."""
        start = time.perf_counter()
        latency: dict[str, float] = {}
        scores = RoutingScores((), (), ())
        routed = RouterOutput(None, "", 0.0)
        decision = Decision(Route.ERROR, "", 0.0)
        slots = self.memory.get(turn.conversation_id)
        try:
            routed, scores = await asyncio.gather(
                self._route(turn.text, latency), self._retrieve(turn.text, latency)
            )
            entities = extract(turn.text)
            decision = decide(routed, scores, entities, slots, self.routing)
            ctx = TurnContext(
                turn.conversation_id, turn.text, decision, scores, entities, slots, turn.metadata
            )
            result = await self.handlers.run(ctx)
            error = False
        except Exception as err:  # noqa: BLE001 - the shopper gets an apology, the log an error turn
            if isinstance(err, ShopbotError):
                log.warning("turn failed in %s: %s: %s", decision.route, err.code, err)
            else:
                log.exception("unexpected failure in %s", decision.route)
            result = HandlerResult((replies.error(),), slots, answered=False)
            decision, error = Decision(Route.ERROR, decision.label, decision.confidence), True
        for stage, ms in result.latency_ms.items():
            latency[stage] = latency.get(stage, 0.0) + ms
        unanswered = 0 if result.answered else result.slots.unanswered + 1
        self.memory.put(
            turn.conversation_id,
            result.slots.updated(unanswered=unanswered, turns=result.slots.turns + 1),
        )
        latency["total"] = (time.perf_counter() - start) * 1000
        record = self._record(turn, decision, routed, scores, result, latency, error)
        self.sink.submit(record)
        return TurnResult(record.turn_id, result.messages, record)

    async def _route(self, text: str, latency: dict[str, float]) -> RouterOutput:
        t = time.perf_counter()
        routed = await self.router.route(text)
        latency["route"] = (time.perf_counter() - t) * 1000
        return routed

    async def _retrieve(self, text: str, latency: dict[str, float]) -> RoutingScores:
        t = time.perf_counter()
        vector = await self.encoder.encode(text)
        latency["embed"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        scores = self.scorer.run(vector)
        latency["search"] = (time.perf_counter() - t) * 1000
        return scores

    def _record(
        self,
        turn: TurnInput,
        decision: Decision,
        routed: RouterOutput,
        scores: RoutingScores,
        result: HandlerResult,
        latency: dict[str, float],
        error: bool,
    ) -> TurnRecord:
        clean = redact(turn.text)
        flags = compute_flags(
            route=decision.route,
            confidence=decision.confidence,
            total_ms=latency["total"],
            thresholds=self.flag_thresholds,
            grounding_score=result.grounding,
            pii_redacted=clean.changed,
            error=error,
            generation_failed=result.generation_failed,
        )
        hits: tuple[Hit, ...] = scores.hits + (result.hits or scores.product_hits[:3])
        return TurnRecord(
            conversation_id=turn.conversation_id,
            turn_id=uuid.uuid4().hex,
            ts=datetime.now(UTC),
            channel=turn.channel,
            user_text=clean.text,
            route=decision.route,
            response=tuple(m.to_rest(turn.conversation_id) for m in result.messages),
            hits=hits,
            latency_ms=latency,
            versions=self.versions,
            flags=flags,
            metadata={
                "label": decision.label,
                "confidence": round(decision.confidence, 4),
                "ranking": [[label, round(p, 4)] for label, p in routed.ranking],
                "grounding": result.grounding,
                "evidence": list(result.evidence),
            },
        )
