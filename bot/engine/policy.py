"""The routing policy: the one function that decides a turn's route.

Every route a shopper's message can take is chosen by :func:`decide`: the trained router's
answer, a button payload, an order number, a price range, a product match, an auditor's
promoted correction, a person having the conversation, or a failed turn. The server, replay,
the gate and ``shopbot eval`` all route through it (``bot/engine/signals.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from bot.engine.interfaces import Decision, Signals
from core.turns import Route, RouterOutput

# Answer-less knowledge entries (data/intents.yml) and the route each one takes.
INTENT_ROUTES = {
    "handoff": Route.HANDOFF,
    "recommend": Route.RECOMMEND,
    "order_status": Route.ORDER_STATUS,
    "product_search": Route.PRODUCTS,
    "product_question": Route.GENERATE,
    "out_of_scope": Route.DECLINE,
}

# Routes that do not answer from a knowledge entry.
NOT_FROM_KNOWLEDGE = frozenset({Route.DECLINE, Route.GENERATE, Route.ERROR, Route.HUMAN})


@dataclass(frozen=True)
class RoutingThresholds:
    """The one score level the trained router does not decide: product similarity.

    When the router declines a message that still closely matches a catalogue item, a grounded
    answer is generated instead of a decline (docs/quality.md explains the choice).
    ``intent_routes`` is the route of each answer-less intent: the shop's by default, a Rasa
    project's own (bot/rasa/responder.py) when one runs.
    """

    product: float = 0.45
    intent_routes: Mapping[str, Route] = field(default_factory=lambda: dict(INTENT_ROUTES))


def decide(signals: Signals, thresholds: RoutingThresholds) -> Decision:
    """Pick the route of one message."""
    if signals.with_person:
        return Decision(Route.HUMAN, "", 0.0)
    if signals.failed:
        if signals.routed is None:
            return Decision(Route.ERROR, "", 0.0)
        intended = decide(replace(signals, failed=False), thresholds)
        return Decision(Route.ERROR, intended.label, intended.confidence)
    entities = signals.entities
    if entities.payload_intent:
        # "/intent" payloads come from buttons; unknown FAQ ids are caught by the FAQ handler.
        intent = entities.payload_intent
        return Decision(thresholds.intent_routes.get(intent, Route.FAQ), intent, 1.0)
    if signals.correction is not None:
        label = signals.correction.change.entry_id
        return Decision(thresholds.intent_routes.get(label, Route.FAQ), label, signals.correction.score)
    routed = signals.routed or RouterOutput(None, "", 0.0)
    if entities.order_proof and signals.slots.order_number and not entities.order_number:
        # The e-mail or postcode an anonymous shopper was asked for, to unlock their order.
        return Decision(Route.ORDER_STATUS, "order_status", max(routed.confidence, 0.5))
    if entities.order_number and (routed.top_label == "order_status" or routed.label is None):
        return Decision(Route.ORDER_STATUS, "order_status", max(routed.confidence, 0.5))
    named = signals.scores.named
    if named is not None and (
        (routed.label is None)
        or (entities.product_aspect is not None
            and thresholds.intent_routes.get(routed.label, Route.FAQ) in (Route.FAQ, Route.RECOMMEND))
    ):
        # A question about a product the shopper named: answered about that product, from its
        # facts ("what is the X made of?" is not the FAQ entry on materials in general, and
        # "what do people buy with the X?" not the shop's favourites).
        return Decision(Route.GENERATE, "product_question", max(routed.confidence, named.score))
    if routed.label is not None:
        route = thresholds.intent_routes.get(routed.label, Route.FAQ)
        similar = route is Route.RECOMMEND and entities.refers_back and bool(signals.slots.last_product)
        return Decision(route, routed.label, routed.confidence, similar)
    if entities.min_price is not None or entities.max_price is not None:
        return Decision(Route.PRODUCTS, "product_search", routed.confidence)
    hits = signals.scores.product_hits
    if hits and hits[0].score >= thresholds.product:
        return Decision(Route.GENERATE, "product_question", routed.confidence)
    return Decision(Route.DECLINE, "out_of_scope", routed.confidence)


def answered_entry(decision: Decision) -> str | None:
    """The knowledge entry a decision answers from, or None when it declines or generates."""
    if decision.route in NOT_FROM_KNOWLEDGE or decision.label == "out_of_scope":
        return None
    return decision.label
