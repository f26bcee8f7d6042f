"""The one place a turn's signals and outcome facts are assembled.

The server (``bot/engine/pipeline.py``), replay and the gate (``bot/training/offline.py``) and
``shopbot eval`` (``bot/training/router_eval.py``) all read a message through
:func:`signals_of` and route it with :func:`bot.engine.policy.decide`; what the turn then did
becomes :class:`~monitoring.flags.TurnFacts` through :func:`facts_of`, and ``compute_flags``
decides the flags from those facts, once, when the record is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from bot.engine.interfaces import Decision, Entities, HandlerResult, Reading, Signals, Slots
from bot.engine.nlu import extract
from bot.engine.policy import RoutingThresholds, decide
from core.turns import Hit, RouterOutput, RoutingScores
from monitoring.flags import TurnFacts, nearest_known

if TYPE_CHECKING:
    from bot.engine.corrections import CorrectionMatch


def signals_of(
    text: str,
    routed: RouterOutput,
    scores: RoutingScores,
    *,
    slots: Slots | None = None,
    correction: CorrectionMatch | None = None,
    negative: bool = False,
    entities: Callable[[str], Entities] = extract,
    reading: Reading | None = None,
    language: str | None = None,
    found: Entities | None = None,
) -> Signals:
    """What the policy reads of one message: the router's answer, the nearest knowledge, the
    entities in the text, the conversation's slots, a promoted correction it matches, its
    sentiment, and how it reads in the conversation (``bot/engine/context.py``). ``found``: the
    entities already read off ``text`` (else ``entities`` reads them).

    A first message of a fresh conversation leaves ``slots`` and ``reading`` out. A message
    that refers to one product names it, as if the shopper had typed its name; a "more like
    that one" puts the product it means in focus; a correction asks the question before again.
    """
    found = found if found is not None else entities(text)
    state = slots or Slots()
    if reading is not None and reading.act is not None:
        if reading.aspect is not None:
            found = replace(found, product_aspect=reading.aspect)
        if len(reading.refers_to) == 1 and reading.search is None:
            code = reading.refers_to[0]
            scores = replace(scores, named=Hit(code, "product", 1.0, code))
            if reading.act == "similar":
                state = state.updated(last_product=code)
                found = replace(found, refers_back=True)
    return Signals(routed, scores, found, state, correction, negative=negative, reading=reading,
                   language=language)


def route_first_turn(
    text: str, routed: RouterOutput, scores: RoutingScores, thresholds: RoutingThresholds,
    *, entities: Callable[[str], Entities] = extract,
) -> tuple[Signals, Decision]:
    """Route ``text`` as the server routes the first message of a fresh conversation."""
    signals = signals_of(text, routed, scores, entities=entities)
    return signals, decide(signals, thresholds)


def facts_of(
    signals: Signals,
    decision: Decision,
    result: HandlerResult | None = None,
    *,
    total_ms: float = 0.0,
    error: bool = False,
    escalated: bool = False,
) -> TurnFacts:
    """What a turn did, the facts its flags are decided from; ``result`` None: routed only."""
    # A button's payload is not the shopper's wording; a promoted question is a known phrasing.
    nearest = None if signals.entities.payload_intent else nearest_known(
        signals.scores.labels, signals.correction.score if signals.correction else None)
    return TurnFacts(
        route=decision.route,
        confidence=decision.confidence,
        total_ms=total_ms,
        grounding_score=result.grounding if result else None,
        error=error,
        generation_failed=result.generation_failed if result else False,
        negative_sentiment=signals.negative,
        escalated=escalated,
        answered=result.answered if result else True,
        nearest_phrasing=nearest,
    )
