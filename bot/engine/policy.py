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

# The product aspect of a stock question (bot/engine/nlu.py).
STOCK = "stock"
# "add it to my basket": answered about a product (where to add it), never a search for baskets.
BASKET = "basket"
# The label of a message in another language, answered in it.
OTHER_LANGUAGE = "other_language"
# A follow-up whose act the conversation settles (an ordinal, a refinement, "show me more") is
# decided by that reading, as a button's payload is.
CONTEXT_CONFIDENCE = 1.0
# "The third one" when two cards were shown: which were (bot/engine/handlers.py).
FEWER_SHOWN = "fewer_shown"
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
    if signals.language is not None and not entities.payload_intent:
        # Another language: answered in it, with what the bot does in English (bot/engine/language.py).
        return Decision(Route.FAQ, OTHER_LANGUAGE, 1.0)
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
    if entities.order_number and (routed.top_label == "order_status" or routed.label is None
                                  or signals.slots.asked_order_number):
        # Asked for, an order number is the answer whatever the router makes of "12345".
        return Decision(Route.ORDER_STATUS, "order_status", max(routed.confidence, 0.5))
    reading = signals.reading
    if reading is not None and reading.act is not None:
        # A follow-up read in its conversation (bot/engine/context.py): what it asks is settled.
        asked = signals.routed
        if reading.act == "variant" and reading.search is not None and asked is not None and \
                asked.label is not None and thresholds.intent_routes.get(asked.label, Route.FAQ) is Route.FAQ:
            # "what about personalised ones?" may ask whether the shop personalises: the router says.
            return Decision(Route.FAQ, asked.label, asked.confidence)
        if reading.act == "faq" and asked is not None:
            topic = _on_topic(asked, signals.slots.faq_topic)
            if topic is not None:
                return Decision(Route.FAQ, topic, asked.confidence)
        if reading.search is not None:
            # Narrowed, paged, or "more like the third one": cards from the catalogue. (For "more
            # like", the catalogue searched with the product's name resolved 14 of 14 development
            # follow-ups, the recommender's items like it 9: docs/quality.md, "Conversations".)
            return Decision(Route.PRODUCTS, "product_search", CONTEXT_CONFIDENCE)
        if reading.act == "compare":
            return Decision(Route.GENERATE, "product_comparison", CONTEXT_CONFIDENCE)
        if reading.act == "past":
            return Decision(Route.GENERATE, FEWER_SHOWN, CONTEXT_CONFIDENCE)
        if reading.act == "another_order":
            # "What about my other order?": its number is asked for (bot/engine/handlers.py).
            return Decision(Route.ORDER_STATUS, "order_status", CONTEXT_CONFIDENCE)
        if reading.refers_to and reading.aspect is not None:
            return Decision(Route.GENERATE, "product_question", CONTEXT_CONFIDENCE)
        if reading.act == "pronoun" and reading.refers_to and asked is not None and asked.label is not None \
                and thresholds.intent_routes.get(asked.label, Route.FAQ) in (Route.RECOMMEND, Route.PRODUCTS):
            # "what comes in it?": about the product in focus, not the favourites or a new search.
            return Decision(Route.GENERATE, "product_question", CONTEXT_CONFIDENCE)
        # A reference with no fact asked ("does it need batteries?") names its product and is
        # routed as the shopper had typed that name (below).
    named = signals.scores.named
    routed_to = thresholds.intent_routes.get(routed.label, Route.FAQ) if routed.label is not None else None
    # "is it in stock?" reads like "where is my order?" to the router; a stock question is about a
    # product unless it gives an order number (above).
    stock = entities.product_aspect == STOCK
    basket = entities.product_aspect == BASKET
    if named is not None and (
        (routed.label is None)
        or (entities.product_aspect is not None and routed_to in (Route.FAQ, Route.RECOMMEND))
        or (stock and routed_to in (Route.ORDER_STATUS, Route.PRODUCTS))
        or basket
    ):
        # A question about a product the shopper named: answered about that product, from its
        # facts ("what is the X made of?" is not the FAQ entry on materials in general, and
        # "what do people buy with the X?" not the shop's favourites).
        return Decision(Route.GENERATE, "product_question", max(routed.confidence, named.score))
    if basket:
        # "ok add two to my basket" after six cards: which one (the handler asks), not baskets.
        return Decision(Route.GENERATE, "product_question", routed.confidence)
    if stock and routed_to in (None, Route.ORDER_STATUS, Route.DECLINE):
        # A stock question naming no product the bot knows: the handler asks which one
        # (the shop's restocking policy, an FAQ answer, is still the router's to give).
        return Decision(Route.GENERATE, "product_question", routed.confidence)
    priced = entities.min_price is not None or entities.max_price is not None
    if routed.label is not None:
        route = thresholds.intent_routes.get(routed.label, Route.FAQ)
        similar = route is Route.RECOMMEND and entities.refers_back and bool(signals.slots.last_product)
        if route is Route.RECOMMEND and not similar and (entities.interest or entities.child or priced):
            # "a present for my mum, she loves gardening": gardening things; "gift ideas for my 8
            # year old niece": things for children first; "gift ideas under £10": the favourites
            # under £10 (the action's ignore the price); not the shop's favourites as they are
            # (the search: bot/engine/context.py, search_of).
            return Decision(Route.PRODUCTS, "product_search", routed.confidence)
        return Decision(route, routed.label, routed.confidence, similar)
    if priced:
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


def _on_topic(routed: RouterOutput, topic: str | None) -> str | None:
    """The FAQ topic before, when the router reads the follow-up as that topic even where it would
    decline the short message (a stronger prior for the topic did not help on the development
    conversations: docs/quality.md)."""
    return topic if topic is not None and routed.top_label == topic else None
