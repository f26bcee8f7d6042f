"""The routing policy: from scores, entities and memory to one route."""

from __future__ import annotations

from dataclasses import dataclass

from bot.dialogue.memory import Slots
from bot.dialogue.nlu import Entities
from monitoring.schema import Route
from retrieval.routing import RoutingScores

# Answer-less knowledge entries (data/intents.yml) and the route each one takes.
INTENT_ROUTES = {
    "handoff": Route.HANDOFF,
    "recommend": Route.RECOMMEND,
    "order_status": Route.ORDER_STATUS,
    "product_search": Route.PRODUCTS,
    "product_question": Route.GENERATE,
    "out_of_scope": Route.DECLINE,
}


@dataclass(frozen=True)
class RoutingThresholds:
    """Score levels of the decision; see docs/architecture.md for how they were chosen."""

    answer: float = 0.6
    product: float = 0.45


@dataclass(frozen=True)
class Decision:
    """The chosen route, the entry or intent behind it and how sure the router was."""

    route: Route
    label: str
    confidence: float
    similar: bool = False


def decide(
    scores: RoutingScores, entities: Entities, slots: Slots, thresholds: RoutingThresholds
) -> Decision:
    """Pick the route of one message."""
    label, score = scores.top
    if entities.payload_intent:
        return _from_payload(entities.payload_intent)
    if entities.order_number and (label == "order_status" or score < thresholds.answer):
        return Decision(Route.ORDER_STATUS, "order_status", max(score, thresholds.answer))
    if score >= thresholds.answer:
        route = INTENT_ROUTES.get(label, Route.FAQ)
        similar = route is Route.RECOMMEND and entities.refers_back and bool(slots.last_product)
        return Decision(route, label, score, similar)
    if label == "out_of_scope":
        return Decision(Route.DECLINE, label, score)
    if entities.min_price is not None or entities.max_price is not None:
        return Decision(Route.PRODUCTS, "product_search", score)
    best_product = scores.product_hits[0].score if scores.product_hits else 0.0
    if best_product >= thresholds.product:
        return Decision(Route.GENERATE, "product_question", best_product)
    return Decision(Route.DECLINE, "out_of_scope", score)


def _from_payload(intent: str) -> Decision:
    # "/intent" payloads come from buttons; unknown FAQ ids are caught by the FAQ handler.
    return Decision(INTENT_ROUTES.get(intent, Route.FAQ), intent, 1.0)
