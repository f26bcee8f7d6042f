"""One handler per route: they turn a routing decision into the bot's messages."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from actions.runner import DOMAIN, ActionRunner, tracker_state
from actions.shop_actions import reports_unavailable
from bot.engine import replies
from bot.engine.compare import comparison, which_were_shown
from bot.engine.context import about, name_words, search_of, things
from bot.engine.identity import CUSTOMER_ID, without_identity
from bot.engine.inference import BatchingEncoder
from bot.engine.interfaces import Entities, HandlerResult, ProjectAnswers, Slots, TurnContext
from bot.engine.policy import BASKET, FEWER_SHOWN, OTHER_LANGUAGE, STOCK, RoutingThresholds
from bot.engine.ranking import by_popularity, meets, rank
from bot.generation.grounded import grounded_answer
from bot.generation.product_answer import OF_VARIANTS, answer_about
from bot.generation.service import GenerationService
from bot.limits import Window
from core.messages import BotMessage
from core.shop import Product
from core.turns import Hit, Route, RoutingScores
from core.variants import group_of
from retrieval.knowledge import KnowledgeEntry
from retrieval.knowledge_base import KnowledgeBase

MAX_CARDS = 6
# How close a product must be to a stock question naming none to be offered: the policy's bar
# for answering about the products a message matches.
SUGGEST = RoutingThresholds().product
# The slots an action may set.
ACTION_SLOTS = frozenset({"last_product", "order_number", "verified_order"})
ACTIONS = {Route.RECOMMEND: "action_recommend", Route.ORDER_STATUS: "action_order_status"}


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


class RouteHandlers:
    """Runs the route chosen by the policy."""

    def __init__(
        self,
        kb: KnowledgeBase,
        encoder: BatchingEncoder,
        generation: GenerationService,
        actions: ActionRunner,
        promoted: Callable[[str], KnowledgeEntry | None] | None = None,
        lookups: OrderLookupLimits | None = None,
        project: ProjectAnswers | None = None,
    ) -> None:
        self.kb = kb
        self.encoder = encoder
        self.generation = generation
        self.actions = actions
        self.lookups = lookups
        # New FAQ entries promoted by auditors, not yet in the knowledge base's files.
        self.promoted = promoted or (lambda entry_id: None)
        # A Rasa project (SHOPBOT_RASA_PROJECT) answers its own intents and declines its own way.
        self.project = project
        # The catalogue's name words, on first use and again after each sync: (version, words).
        self._vocabulary: tuple[str, frozenset[str]] | None = None

    async def run(self, ctx: TurnContext) -> HandlerResult:
        """Dispatch on the decided route."""
        # What the last answer compared holds for the next message only (the comparison sets it again).
        ctx = replace(ctx, slots=ctx.slots.updated(compared=()))
        route = ctx.decision.route
        if self.project is not None and route is not Route.HANDOFF \
                and await self.project.active_loop(ctx.conversation_id) is not None:
            # A form is asking for the shopper's details: it takes the message first (a product
            # name given as an answer is the form's, not a product question).
            if self.project.handles(ctx.decision.label):
                return await self.project.answer(ctx)
            return await self.project.decline(ctx)
        if route is Route.FAQ and ctx.decision.label == OTHER_LANGUAGE:
            return HandlerResult((replies.other_language(ctx.language or "und"),), ctx.slots)
        if route is Route.FAQ:
            if self.project is not None and self.project.handles(ctx.decision.label):
                return await self.project.answer(ctx)
            result = self.faq(ctx)
            if self.project is not None and not result.answered:
                return await self.project.decline(ctx)
            return result
        if route is Route.PRODUCTS:
            return await self.products(ctx)
        if route in ACTIONS:
            return await self.action(ctx, ACTIONS[route])
        if route is Route.GENERATE:
            if ctx.decision.label == "product_comparison":
                return self.compare(ctx)
            if ctx.decision.label == FEWER_SHOWN:
                return self.fewer_shown(ctx)
            return await self.generate(ctx)
        if route is Route.HANDOFF:
            return HandlerResult((replies.handoff(),), ctx.slots.updated(handoff=True))
        if self.project is not None:
            return await self.project.decline(ctx)
        return HandlerResult((replies.decline(),), ctx.slots, answered=False)

    def faq(self, ctx: TurnContext) -> HandlerResult:
        """The answer of the best FAQ entry."""
        entry = self.kb.entries.get(ctx.decision.label) or self.promoted(ctx.decision.label)
        if entry is None or entry.answer is None:
            return HandlerResult((replies.decline(),), ctx.slots, answered=False)
        # Remembered for a follow-up that leans on it ("and to the USA?").
        slots = ctx.slots.updated(topic="faq", faq_topic=entry.id)
        return HandlerResult((BotMessage(text=entry.answer),), slots, evidence=(entry.answer,))

    async def products(self, ctx: TurnContext) -> HandlerResult:
        """Product cards for a search, or for a follow-up that narrows or pages the last one."""
        reading = ctx.reading
        search = reading.search if reading is not None and reading.search is not None else \
            search_of(ctx.text, ctx.entities)
        more = reading is not None and reading.act in ("more", "similar")
        follow_up = reading is not None and reading.search is not None
        start = time.perf_counter()
        # One catalogue for the whole search: a sync may swap it meanwhile.
        catalogue = self.kb.catalogue.state
        if not search.words:
            # "A birthday present for my mum", "anything under £3": nothing says what kind, so the
            # shop's favourites (the words would find birthday cards, or whatever "anything" is near).
            embed_ms = 0.0
            candidates = by_popularity(list(catalogue.by_code.values()))
        else:
            vec = await self.encoder.encode(search.query())
            embed_ms = _ms(start)
            start = time.perf_counter()
            res = catalogue.index.search(vec.reshape(1, -1), 200)[0]
            candidates = [(catalogue.by_code[catalogue.index.ids[row]], score)
                          for row, score in zip(res.rows, res.scores, strict=True)]
        skip = set(search.seen) if more else set()
        candidates = [(p, s) for p, s in candidates if p.stock_code not in skip and meets(p, search)]
        if self._vocabulary is None or self._vocabulary[0] != catalogue.version:
            self._vocabulary = (catalogue.version, name_words(catalogue.by_code.values()))
        ranked = rank(candidates, search, act=reading.act if reading is not None and follow_up else None,
                      vocabulary=self._vocabulary[1])
        candidates = ranked.products
        found = candidates[:MAX_CARDS]
        interest = None if follow_up else ctx.entities.interest
        # "she loves golf" in a shop that sells nothing for golf: said, before what comes closest.
        unmatched = interest if interest and not any(about(p, interest) for p, _ in found) else None
        latency = {"embed": embed_ms, "search": _ms(start)}
        if not found:
            return HandlerResult((replies.no_products(),), ctx.slots.updated(topic="products"),
                                 answered=False, latency_ms=latency)
        cards = [p.card() for p, _ in found]
        text = "Here are some more:" if more else "Here is what I found:"
        if ranked.missing:
            # Said plainly rather than passing other things off as what was asked for.
            text = replies.none_of_kind(ranked.missing)
        elif unmatched:
            text = replies.none_of_kind(things(unmatched))
        message = BotMessage(
            text=text,
            custom={"type": "products", "products": cards},
        )
        hits = tuple(Hit(p.stock_code, "product", s, p.name) for p, s in found)
        codes = tuple(c["stock_code"] for c in cards)
        slots = ctx.slots.updated(
            last_product=codes[0], shown_products=codes, topic="products",
            search=replace(search, seen=(*search.seen, *codes) if more else codes),
        )
        return HandlerResult(
            (message,), slots, latency_ms=latency, hits=hits, evidence=tuple(p.passage() for p, _ in found)
        )

    def compare(self, ctx: TurnContext) -> HandlerResult:
        """Two or more products the shopper has seen, compared on their catalogue facts."""
        products = self._referred(ctx)
        if len(products) < 2:
            return HandlerResult((replies.decline(),), ctx.slots, answered=False)
        compared = comparison(products, ctx.text)
        codes = tuple(p.stock_code for p in products)
        # "Is it dishwasher safe?" after "which is the cheapest?" asks about the one it picked; "which
        # is cheaper?" after "compare the first two" asks about those two, not every card shown.
        slots = ctx.slots.updated(
            topic="product", aspect="price",
            last_product=compared.picked.stock_code if compared.picked else ctx.slots.last_product,
            compared=codes if set(codes) != set(ctx.slots.shown_products) else ())
        return self._about_shown(compared.text, products, slots)

    def fewer_shown(self, ctx: TurnContext) -> HandlerResult:
        """An ordinal past the cards shown ("the third one" of two): which ones were shown."""
        products = self._referred(ctx)
        if not products:
            return HandlerResult((replies.decline(),), ctx.slots, answered=False)
        return self._about_shown(which_were_shown(products, more=ctx.slots.search is not None), products,
                                 ctx.slots.updated(topic="products"))

    def _referred(self, ctx: TurnContext) -> list[Product]:
        """The catalogue products the message's reading refers to (still in the catalogue)."""
        codes = ctx.reading.refers_to if ctx.reading is not None else ()
        return [self.kb.product_by_code[c] for c in codes if c in self.kb.product_by_code]

    @staticmethod
    def _about_shown(text: str, products: Sequence[Product], slots: Slots) -> HandlerResult:
        """A reply about products the shopper has seen, on their facts as evidence."""
        return HandlerResult((BotMessage(text=text),), slots, evidence=tuple(p.evidence() for p in products),
                             hits=tuple(Hit(p.stock_code, "product", 1.0, p.name) for p in products))

    async def action(self, ctx: TurnContext, name: str) -> HandlerResult:
        """Run a rasa-sdk action in-process or on the action server."""
        start = time.perf_counter()
        if name == "action_order_status" and ctx.customer_id is None and self.lookups is not None:
            wait = await self.lookups.acquire(ctx.conversation_id, ctx.client, ctx.entities)
            if wait:
                return HandlerResult((replies.too_many_lookups(wait),), ctx.slots, answered=False,
                                     latency_ms={"action": _ms(start)})
        known = ctx.slots
        if ctx.reading is not None and ctx.reading.act == "another_order":
            known = known.updated(order_number=None)  # the order looked up before is not this one
        slots = {**known.as_rasa(), "recommend_mode": "similar" if ctx.decision.similar else None}
        # Actions see a customer id only when the shop signed it; never the token itself.
        metadata = {**without_identity(ctx.metadata),
                    **({CUSTOMER_ID: ctx.customer_id} if ctx.customer_id else {})}
        tracker = tracker_state(
            ctx.conversation_id,
            slots,
            ctx.text,
            ctx.decision.label,
            ctx.entities.as_rasa(),
            metadata,
        )
        outcome = await self.actions.run(name, tracker, DOMAIN)
        new_slots = _shown(_apply_events(known, outcome.events), outcome.messages)
        if name == "action_order_status":
            # A bare "12345" next answers the order question (Slots.asked_order_number).
            new_slots = new_slots.updated(topic="order")
        if name == "action_recommend" and not ctx.decision.similar:
            # "a present for my niece" → "something under £10": the request is the search narrowed.
            # ("Show me more" next shows other products than the ones the action just showed.)
            new_slots = new_slots.updated(search=replace(search_of(ctx.text, ctx.entities),
                                                         seen=new_slots.shown_products))
        # An action whose backing system could not answer (the shop's order system is down) marks
        # its reply: the turn is not answered (it counts towards escalation); the mark is not shown.
        unavailable = any(reports_unavailable(m.custom) for m in outcome.messages)
        messages = tuple(replace(m, custom=None) if reports_unavailable(m.custom) else m
                         for m in outcome.messages)
        return HandlerResult(messages, new_slots, answered=not unavailable,
                             latency_ms={"action": _ms(start)})

    async def generate(self, ctx: TurnContext) -> HandlerResult:
        """An answer about the product the shopper named, else GPT-2 on the top product passages."""
        named = ctx.scores.named
        catalogue = self.kb.catalogue.state  # one catalogue for the answer: a sync may swap it
        product = catalogue.by_code.get(named.id) if named is not None else None
        aspect = ctx.entities.product_aspect
        if product is None and aspect is not None:
            # A fact asked of a product named in part ("how much is the regency cakestand?"): the
            # one product whose name holds those words. (Other questions keep GPT-2 on the top
            # passages: "is the glass cookie jar good for biscuits?")
            partial = catalogue.names.find(ctx.text, partial=True)
            if partial is not None:
                product = partial.product
                named = Hit(product.stock_code, "product", round(partial.coverage, 4), product.name)
        if product is not None:
            group = group_of(product, catalogue.by_code.values()) if aspect in OF_VARIANTS else ()
            reply = await answer_about(product, aspect, ctx.text, self.generation, group,
                                       ctx.entities.quantity)
            # "Yes, it comes in blue": the blue one is in focus next ("how much is it?").
            focus = reply.focus or product
            return HandlerResult(
                reply.messages, ctx.slots.updated(last_product=focus.stock_code, topic="product",
                                                  aspect=aspect),
                # A question the facts cannot answer is not answered: it counts towards escalation.
                answered=reply.known, evidence=(reply.evidence,), grounding=reply.grounding,
                latency_ms={"generate": reply.generate_ms},
                hits=(Hit(product.stock_code, "product", named.score if named else 1.0, product.name),),
            )
        if aspect == BASKET:
            # "ok add two to my basket" with several cards shown: those cards again, to pick from.
            shown = [catalogue.by_code[c] for c in ctx.slots.shown_products if c in catalogue.by_code]
            return HandlerResult(replies.which_to_add(shown), ctx.slots,
                                 evidence=tuple(p.passage() for p in shown))
        found = self._found(ctx.scores)
        if aspect == STOCK:
            # "is it in stock?" with no product in focus or named: which one is meant, with the
            # products the message is close to ("is the cookie jar in stock?"), if any.
            found = [catalogue.by_code[h.id] for h in ctx.scores.product_hits[:3]
                     if h.score >= SUGGEST and h.id in catalogue.by_code]
            codes = tuple(p.stock_code for p in found)
            messages = replies.which_product(found)
            slots = ctx.slots.updated(shown_products=codes, last_product=codes[0], topic="products") \
                if codes else ctx.slots
            return HandlerResult(messages, slots, evidence=tuple(p.passage() for p in found))
        passages = tuple(p.evidence() for p in found)
        answer = await grounded_answer(ctx.text, passages, self.generation)
        latency = {"generate": answer.generate_ms}
        top = ctx.scores.product_hits[0].id if ctx.scores.product_hits else ctx.slots.last_product
        # "a leaving gift for a coffee lover" → "under a tenner": the request, narrowed next.
        slots = ctx.slots.updated(last_product=top, search=search_of(ctx.text, ctx.entities))
        if answer.draft is None:
            return HandlerResult(
                (replies.generation_failed(),),
                slots,
                answered=False,
                generation_failed=True,
                latency_ms=latency,
                evidence=passages,
            )
        if answer.text is None:
            # A claim the passages do not state: the draft is withheld (its grounding, 0.0, flags
            # the turn ungrounded); the shopper sees the products found and a person to ask.
            codes = tuple(p.stock_code for p in found)
            return HandlerResult(
                replies.not_sure([p.card() for p in found]),
                slots.updated(shown_products=codes, topic="products") if codes else slots,
                answered=False, evidence=passages, grounding=answer.grounding, latency_ms=latency,
                withheld=answer.withheld,
            )
        return HandlerResult(
            (BotMessage(text=answer.text),), slots, evidence=passages, grounding=answer.grounding,
            latency_ms=latency,
        )

    def _found(self, scores: RoutingScores) -> list[Product]:
        # Best passage first: the small generator copies mostly from the first one. Each
        # product's evidence carries its facts (price range, pack, orders, countries, ...).
        found = (self.kb.product_by_code.get(h.id) for h in scores.product_hits[:3])
        return [p for p in found if p is not None]


class OrderLookupLimits:
    """How often an anonymous shopper may try order numbers, per conversation and per address."""

    def __init__(self, per_conversation: Window, per_ip: Window) -> None:
        self.per_conversation = per_conversation
        self.per_ip = per_ip

    async def acquire(self, conversation_id: str, ip: str, entities: Entities) -> int:
        """0 and counted when a lookup may go ahead; else the whole seconds to wait."""
        if not (entities.order_number or entities.order_proof):
            return 0  # asking how to track an order looks nothing up
        wait = max(await self.per_conversation.retry_after(conversation_id),
                   await self.per_ip.retry_after(ip or "unknown"))
        if wait > 0:
            return max(1, math.ceil(wait))
        await self.per_conversation.record(conversation_id)
        await self.per_ip.record(ip or "unknown")
        return 0


def _shown(slots: Slots, messages: Sequence[BotMessage]) -> Slots:
    """The cards an action showed become the ones a follow-up refers to ("the first one")."""
    codes = tuple(str(p["stock_code"]) for m in messages if m.custom
                  for p in m.custom.get("products", []) if isinstance(p, dict) and "stock_code" in p)
    if not codes:
        return slots
    return slots.updated(shown_products=codes, last_product=codes[0], topic="products")


def _apply_events(slots: Slots, events: Sequence[dict[str, Any]]) -> Slots:
    """Apply rasa ``slot`` events the action returned to our memory."""
    changes: dict[str, Any] = {}
    for event in events:
        if event.get("event") == "slot" and event.get("name") in ACTION_SLOTS:
            changes[event["name"]] = event.get("value")
    return slots.updated(**changes) if changes else slots
