"""The turn pipeline: understand (route + embed → search) → decide → handle → flag → log."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

from bot.engine import replies
from bot.engine.context import ContextReader, clear_alone, switches_entry
from bot.engine.corrections import LiveCorrections
from bot.engine.handlers import RouteHandlers
from bot.engine.identity import IDENTITY_KEYS, IdentityVerifier, without_identity
from bot.engine.inference import BatchingUnderstanding
from bot.engine.interfaces import (
    Decision,
    Entities,
    HandlerResult,
    Reading,
    Signals,
    TurnContext,
    TurnInput,
    TurnResult,
)
from bot.engine.language import Language, LanguageDetector
from bot.engine.locks import ConversationLocks
from bot.engine.memory import ConversationMemory
from bot.engine.nlu import asked_order_number, extract
from bot.engine.policy import RoutingThresholds, decide
from bot.engine.signals import facts_of, signals_of
from bot.handoff.desk import HandoffDesk
from bot.handoff.escalation import EscalationPolicy
from bot.handoff.store import Handoff
from core.errors import ShopbotError, Unavailable
from core.messages import BotMessage
from core.ratelog import RateLimitedLog
from core.turns import Hit, Route, RouterOutput, TurnRecord
from monitoring.flags import TurnFacts
from monitoring.records import RecordFactory
from monitoring.sink import TurnLogSink
from retrieval.understanding import Understood

log = logging.getLogger(__name__)
# A database or Redis outage fails these on every turn: one line per cause per 30 s, with a count.
_outage_log = RateLimitedLog(log, 30.0)


class TurnPipeline:
    """Answers one message end to end; every turn, failed or not, is logged."""

    def __init__(
        self,
        *,
        understanding: BatchingUnderstanding,
        handlers: RouteHandlers,
        memory: ConversationMemory,
        sink: TurnLogSink,
        records: RecordFactory,
        versions: Callable[[], dict[str, str]],
        routing: RoutingThresholds,
        escalation: EscalationPolicy,
        locks: ConversationLocks,
        identity: IdentityVerifier,
        desk: HandoffDesk | None = None,
        corrections: LiveCorrections | None = None,
        entities: Callable[[str], Entities] = extract,
        context: ContextReader | None = None,
        language: LanguageDetector | None = None,
    ) -> None:
        self.understanding = understanding
        self.handlers = handlers
        self.memory = memory
        self.sink = sink
        self.records = records
        # Read per turn: a deploy swaps the router or the generator while the server runs.
        self.versions = versions
        self.routing = routing
        self.escalation = escalation
        self.locks = locks
        self.identity = identity
        self.desk = desk
        self.corrections = corrections
        # What is read off a message's text (a Rasa project adds its payload syntax).
        self.entities = entities
        # How a message reads in its conversation (references back, refinements, ellipsis).
        self.context = context
        # The message's language (about 0.2 ms, inline): another one gets a short reply in it.
        self.language = language

    async def run(self, turn: TurnInput) -> TurnResult:
        """Answer ``turn`` (or relay it to a person); returns once its record is durable.

        Turns of one conversation run one at a time, in arrival order, on every channel and
        (with Redis) across workers; the record is journalled before the reply goes out.
        """
        messages: tuple[BotMessage, ...] = ()
        async with self.locks.hold(turn.conversation_id) as token:
            handoff = self.desk.active(turn.conversation_id) if self.desk is not None else None
            if handoff is not None:
                record, messages = await self._to_person(turn, handoff)
            else:
                record, messages = await self._answer(turn, token)
        # Out of the lock: the conversation's next turn need not wait for the fsync.
        await self.sink.submit(record)
        return TurnResult(record.turn_id, messages, record)

    async def _answer(self, turn: TurnInput, token: int) -> tuple[TurnRecord, tuple[BotMessage, ...]]:
        start = time.perf_counter()
        latency: dict[str, float] = {}
        # The router version that answered this turn: a deploy may swap it between two turns.
        versions = self.versions()
        slots = await self.memory.get(turn.conversation_id)
        signals = Signals(slots=slots)
        customer = self.identity.verify(turn.metadata)
        language = self.language.run(turn.text) if self.language is not None else None
        try:
            await self._refresh_corrections()
            found = self.entities(turn.text)
            if slots.asked_order_number:
                found = asked_order_number(found, turn.text)
            reading = self.context.read(turn.text, slots, found) if self.context is not None else \
                Reading.alone(turn.text)
            # A message in another language is answered in it, unless it reads as a follow-up by
            # its English cues ("whats teh 3rd one" is no German, whatever its letters say).
            foreign = language is not None and language.foreign and reading.act in (None, "faq")
            if foreign:
                reading = Reading.alone(turn.text)
            elif language is not None and language.foreign:
                language = Language("en", "English", 0.0)  # recorded as what it was read as
            if reading.act == "faq":
                # Read both ways in one batch; the follow-up reading is kept only when the message
                # is unclear on its own (bot/engine/context.py: clear_alone).
                understood, alone, negative = await asyncio.gather(
                    self._understand(reading.text, latency, versions),
                    self._understand(turn.text, {}, {}), self._negative(turn.text),
                )
                if clear_alone(alone.routed, turn.text) or switches_entry(
                        turn.text, alone.routed, understood.routed, slots.faq_topic, self._is_faq):
                    reading, understood = Reading.alone(turn.text), alone
            else:
                understood, negative = await asyncio.gather(
                    self._understand(reading.text, latency, versions), self._negative(turn.text)
                )
            signals = signals_of(
                turn.text, understood.routed, understood.scores, slots=slots, negative=negative,
                correction=self.corrections.match(understood.vector) if self.corrections else None,
                entities=self.entities, reading=reading, found=found,
                language=language.code if language is not None and foreign else None,
            )
            decision = decide(signals, self.routing)
            ctx = TurnContext(
                turn.conversation_id, turn.text, decision, signals.scores, signals.entities, signals.slots,
                turn.metadata, customer, turn.client, reading, signals.language,
            )
            result = await self.handlers.run(ctx)
            error = False
        except Exception as err:  # noqa: BLE001 - the shopper gets an apology, the log an error turn
            decision = decide(replace(signals, failed=True), self.routing)
            if isinstance(err, ShopbotError):
                _outage_log.warning(err.code, "turn failed in %s: %s: %s", decision.label, err.code, err)
            else:
                log.exception("unexpected failure in %s", decision.label)
            result = HandlerResult((replies.error(),), slots, answered=False)
            error = True
        for stage, ms in result.latency_ms.items():
            latency[stage] = latency.get(stage, 0.0) + ms
        latency["total"] = (time.perf_counter() - start) * 1000
        facts = facts_of(signals, decision, result, total_ms=latency["total"], error=error)
        unanswered = result.slots.unanswered + 1 if self.escalation.unhelpful(facts) else 0
        messages, handoff_meta = result.messages, None
        reason = self.escalation.reason(decision.route, unanswered, signals.negative)
        if self.desk is not None and reason is not None:
            try:
                # Redaction may run the name model: off the event loop.
                first_message = await asyncio.to_thread(self.records.redactor.text, turn.text)
                handoff, position = await self.desk.escalate(turn.conversation_id, reason, first_message)
            except Unavailable as err:
                # The queue lives in the database: without it, say so rather than fail the turn.
                _outage_log.warning("escalate", "could not escalate %s: %s", turn.conversation_id, err)
                messages = (*messages, replies.escalation_unavailable())
            else:
                messages = replies.escalated(str(reason), position, messages)
                facts, unanswered = replace(facts, escalated=True), 0
                handoff_meta = {"id": handoff.id, "reason": str(reason), "position": position}
        await self.memory.put(
            turn.conversation_id,
            result.slots.updated(unanswered=unanswered, turns=result.slots.turns + 1),
            token,
        )
        # The record's redaction may run the name model (monitoring/ner.py): off the event loop.
        record = await asyncio.to_thread(self._record, turn, signals, decision, result, messages, latency,
                                         facts, handoff_meta, customer, token, versions, language)
        return record, messages

    async def _to_person(
        self, turn: TurnInput, handoff: Handoff
    ) -> tuple[TurnRecord, tuple[BotMessage, ...]]:
        # A person has (or is about to take) the conversation: the bot does not answer, but the
        # shopper waiting for one always hears so (bot/engine/replies.py: with_person).
        assert self.desk is not None
        signals = Signals(with_person=True)
        decision = decide(signals, self.routing)
        messages = replies.with_person(handoff.claimed_by, turn.channel)
        record = await asyncio.to_thread(
            partial(self.records.turn,
                    conversation_id=turn.conversation_id,
                    channel=turn.channel,
                    user_text=turn.text,
                    facts=facts_of(signals, decision),
                    messages=messages,
                    versions=self.versions(),
                    metadata={"sender": "shopper", "handoff_id": handoff.id, "status": str(handoff.status),
                              **self._channel_metadata(turn.metadata, self.identity.verify(turn.metadata))})
        )
        await self.desk.shopper_message(handoff, record)
        return record, messages

    def _channel_metadata(self, metadata: dict[str, Any], customer: str | None) -> dict[str, Any]:
        """Channel metadata (e.g. rasa-webchat's customData), redacted, under its own key.

        Identity claims are not kept as sent: the log says only whether they were verified.
        """
        kept = without_identity(metadata)
        out: dict[str, Any] = _identity_note(metadata, customer)
        if customer is not None:
            # Whose conversation this is, for the channels' binding; never the id itself.
            out["customer_ref"] = self.identity.reference(customer)
        if kept:
            redactor = self.records.redactor
            out["channel_metadata"] = {
                redactor.text(str(k)[:64]): redactor.text(str(v)[:500]) for k, v in kept.items()
            }
        return out

    def _is_faq(self, label: str) -> bool:
        """Whether the knowledge answers ``label`` from an FAQ entry (not a route such as a search)."""
        return self.context is not None and label in self.context.entries and \
            self.routing.intent_routes.get(label, Route.FAQ) is Route.FAQ

    async def _negative(self, text: str) -> bool:
        if self.desk is None:
            return False
        return (await self.desk.sentiment(text)).negative

    async def _understand(self, text: str, latency: dict[str, float], versions: dict[str, str]) -> Understood:
        """One encoder pass and the FAISS search, batched with other turns on the model thread."""
        t = time.perf_counter()
        understood = await self.understanding.understand(text)
        versions["router"] = understood.router_version
        latency["search"] = understood.search_ms
        latency["embed"] = (time.perf_counter() - t) * 1000 - understood.search_ms
        return understood

    async def _refresh_corrections(self) -> None:
        if self.corrections is None:
            return
        try:
            await self.corrections.refresh()
        except Unavailable as err:
            _outage_log.warning("corrections", "promoted corrections not refreshed: %s", err)
        except Exception:  # noqa: BLE001 - stale corrections beat a failed turn
            log.exception("could not refresh the promoted corrections")

    def _record(
        self,
        turn: TurnInput,
        signals: Signals,
        decision: Decision,
        result: HandlerResult,
        messages: tuple[BotMessage, ...],
        latency: dict[str, float],
        facts: TurnFacts,
        handoff: dict[str, Any] | None,
        customer: str | None,
        seq: int,
        versions: dict[str, str],
        language: Language | None = None,
    ) -> TurnRecord:
        scores = signals.scores
        routed = signals.routed or RouterOutput(None, "", 0.0)
        hits: tuple[Hit, ...] = scores.hits + (result.hits or scores.product_hits[:3])
        metadata: dict[str, Any] = {
            "label": decision.label,
            "confidence": round(decision.confidence, 4),
            "ranking": [[label, round(p, 4)] for label, p in routed.ranking],
            "grounding": result.grounding,
            "evidence": list(result.evidence),
            # The conversation lock's grant: turns of a conversation ran in this order.
            "seq": seq,
            **self._channel_metadata(turn.metadata, customer),
        }
        if handoff is not None:
            metadata["handoff"] = handoff
        if language is not None:
            metadata["language"] = language.code
        if result.withheld is not None:
            metadata["withheld_draft"] = self.records.redactor.text(result.withheld)
        reading = signals.reading
        if reading is not None and reading.act is not None:
            # How the message was read in its conversation, for auditors, staff and exports.
            metadata["resolved"] = self.records.redactor.text(reading.resolved or reading.text)
            metadata["refers_to"] = list(reading.refers_to)
            metadata["context_act"] = reading.act
        if signals.correction is not None:
            metadata["correction"] = {"id": signals.correction.change.id,
                                      "score": round(signals.correction.score, 4)}
        if self.corrections is not None:
            versions = {**versions, "corrections": self.corrections.version}
        return self.records.turn(
            conversation_id=turn.conversation_id,
            channel=turn.channel,
            user_text=turn.text,
            facts=facts,
            messages=messages,
            hits=hits,
            latency_ms=latency,
            versions=versions,
            metadata=metadata,
        )


def _identity_note(metadata: dict[str, Any], customer: str | None) -> dict[str, Any]:
    """Whether the shopper claimed an identity and whether the shop's signature proved it."""
    if customer is not None:
        return {"customer": "verified"}
    if any(k in metadata for k in IDENTITY_KEYS):
        return {"customer": "unverified"}
    return {}
