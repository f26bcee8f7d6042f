"""The routing policy: from the trained router's output, entities and memory to one route.

The server and ``shopbot eval`` both route through :func:`decide`; only the evidence search
(FAQ passages, product cards) is left out of the evaluation, since it does not change the route
unless the router has declined and the message names a product.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.dialogue.corrections import CorrectionMatch
from bot.dialogue.memory import Slots
from bot.dialogue.nlu import Entities
from monitoring.schema import Route
from retrieval.router import RouterOutput
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

# Routes that do not answer from a knowledge entry.
NOT_FROM_KNOWLEDGE = frozenset({Route.DECLINE, Route.GENERATE, Route.ERROR, Route.HUMAN})


@dataclass(frozen=True)
class RoutingThresholds:
    """The one score level the trained router does not decide: product similarity.

    When the router declines a message that still closely matches a catalogue item, a grounded
    answer is generated instead of a decline (docs/quality.md explains the choice).
    """

    product: float = 0.45


@dataclass(frozen=True)
class Decision:
    """The chosen route, the entry or intent behind it and how sure the router was."""

    route: Route
    label: str
    confidence: float
    similar: bool = False


def decide(
    routed: RouterOutput,
    scores: RoutingScores,
    entities: Entities,
    slots: Slots,
    thresholds: RoutingThresholds,
) -> Decision:
    """Pick the route of one message."""
    if entities.payload_intent:
        return _from_payload(entities.payload_intent)
    if entities.order_number and (routed.top_label == "order_status" or routed.label is None):
        return Decision(Route.ORDER_STATUS, "order_status", max(routed.confidence, 0.5))
    if routed.label is not None:
        route = INTENT_ROUTES.get(routed.label, Route.FAQ)
        similar = route is Route.RECOMMEND and entities.refers_back and bool(slots.last_product)
        return Decision(route, routed.label, routed.confidence, similar)
    if entities.min_price is not None or entities.max_price is not None:
        return Decision(Route.PRODUCTS, "product_search", routed.confidence)
    best_product = scores.product_hits[0].score if scores.product_hits else 0.0
    if best_product >= thresholds.product:
        return Decision(Route.GENERATE, "product_question", routed.confidence)
    return Decision(Route.DECLINE, "out_of_scope", routed.confidence)


def corrected(match: CorrectionMatch) -> Decision:
    """The route of a message matching an auditor's promoted question."""
    label = match.change.entry_id
    return Decision(INTENT_ROUTES.get(label, Route.FAQ), label, match.score)


def answered_entry(decision: Decision) -> str | None:
    """The knowledge entry a decision answers from, or None when it declines or generates."""
    if decision.route in NOT_FROM_KNOWLEDGE or decision.label == "out_of_scope":
        return None
    return decision.label


def _from_payload(intent: str) -> Decision:
    # "/intent" payloads come from buttons; unknown FAQ ids are caught by the FAQ handler.
    return Decision(INTENT_ROUTES.get(intent, Route.FAQ), intent, 1.0)
