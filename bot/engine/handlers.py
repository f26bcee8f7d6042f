"""One handler per route: they turn a routing decision into the bot's messages."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from actions.runner import DOMAIN, ActionRunner, tracker_state
from bot.engine import replies
from bot.engine.identity import CUSTOMER_ID, without_identity
from bot.engine.inference import BatchingEncoder
from bot.engine.interfaces import Entities, HandlerResult, ProjectAnswers, Slots, TurnContext
from bot.engine.nlu import product_query
from bot.generation.product_answer import answer_about, unsupported_claims
from bot.generation.service import GenerationService
from bot.limits import Window
from core.messages import BotMessage
from core.turns import Hit, Route, RoutingScores
from monitoring.flags import grounding
from retrieval.knowledge import KnowledgeEntry
from retrieval.knowledge_base import KnowledgeBase

MAX_CARDS = 6
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

    async def run(self, ctx: TurnContext) -> HandlerResult:
        """Dispatch on the decided route."""
        route = ctx.decision.route
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
        return HandlerResult((BotMessage(text=entry.answer),), ctx.slots, evidence=(entry.answer,))

    async def products(self, ctx: TurnContext) -> HandlerResult:
        """Product cards for a product question, filtered by any price range."""
        start = time.perf_counter()
        vec = await self.encoder.encode(product_query(ctx.text))
        embed_ms = _ms(start)
        start = time.perf_counter()
        res = self.kb.products.search(vec.reshape(1, -1), 200)[0]
        found = []
        for row, score in zip(res.rows, res.scores, strict=True):
            product = self.kb.product_by_code[self.kb.products.ids[row]]
            if _in_range(product.price, ctx.entities):
                found.append((product, score))
            if len(found) == MAX_CARDS:
                break
        latency = {"embed": embed_ms, "search": _ms(start)}
        if not found:
            return HandlerResult((replies.no_products(),), ctx.slots, answered=False, latency_ms=latency)
        cards = [p.card() for p, _ in found]
        message = BotMessage(
            text="Here is what I found:",
            custom={"type": "products", "products": cards},
        )
        hits = tuple(Hit(p.stock_code, "product", s, p.name) for p, s in found)
        slots = ctx.slots.updated(
            last_product=found[0][0].stock_code, shown_products=tuple(c["stock_code"] for c in cards)
        )
        return HandlerResult(
            (message,), slots, latency_ms=latency, hits=hits, evidence=tuple(p.passage() for p, _ in found)
        )

    async def action(self, ctx: TurnContext, name: str) -> HandlerResult:
        """Run a rasa-sdk action in-process or on the action server."""
        start = time.perf_counter()
        if name == "action_order_status" and ctx.customer_id is None and self.lookups is not None:
            wait = await self.lookups.acquire(ctx.conversation_id, ctx.client, ctx.entities)
            if wait:
                return HandlerResult((replies.too_many_lookups(wait),), ctx.slots, answered=False,
                                     latency_ms={"action": _ms(start)})
        slots = {**ctx.slots.as_rasa(), "recommend_mode": "similar" if ctx.decision.similar else None}
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
        new_slots = _apply_events(ctx.slots, outcome.events)
        return HandlerResult(outcome.messages, new_slots, latency_ms={"action": _ms(start)})

    async def generate(self, ctx: TurnContext) -> HandlerResult:
        """An answer about the product the shopper named, else GPT-2 on the top product passages."""
        named = ctx.scores.named
        product = self.kb.product_by_code.get(named.id) if named is not None else None
        if product is not None:
            reply = await answer_about(product, ctx.entities.product_aspect, ctx.text, self.generation)
            return HandlerResult(
                reply.messages, ctx.slots.updated(last_product=product.stock_code),
                # A question the facts cannot answer is not answered: it counts towards escalation.
                answered=reply.known, evidence=(reply.evidence,), grounding=reply.grounding,
                latency_ms={"generate": reply.generate_ms},
                hits=(Hit(product.stock_code, "product", named.score if named else 1.0, product.name),),
            )
        passages = self._passages(ctx.scores)
        start = time.perf_counter()
        answer = await self.generation.answer(ctx.text, passages)
        latency = {"generate": _ms(start)}
        top = ctx.scores.product_hits[0].id if ctx.scores.product_hits else ctx.slots.last_product
        slots = ctx.slots.updated(last_product=top)
        if answer.text is None:
            return HandlerResult(
                (replies.generation_failed(),),
                slots,
                answered=False,
                generation_failed=True,
                latency_ms=latency,
                evidence=passages,
            )
        # A number the passages do not hold is a made-up claim, whatever the word overlap says.
        made_up = unsupported_claims(answer.text, " ".join(passages))
        score = 0.0 if made_up else grounding(answer.text, passages)
        return HandlerResult(
            (BotMessage(text=answer.text),), slots, evidence=passages, grounding=score, latency_ms=latency
        )

    def _passages(self, scores: RoutingScores) -> tuple[str, ...]:
        # Best passage first: the small generator copies mostly from the first one. Each
        # carries the product's facts (price range, pack, orders, countries, ...).
        found = (self.kb.product_by_code.get(h.id) for h in scores.product_hits[:3])
        return tuple(p.evidence() for p in found if p is not None)


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


def _in_range(price: float, entities: Entities) -> bool:
    if entities.min_price is not None and price < entities.min_price:
        return False
    return entities.max_price is None or price <= entities.max_price


def _apply_events(slots: Slots, events: Sequence[dict[str, Any]]) -> Slots:
    """Apply rasa ``slot`` events the action returned to our memory."""
    changes: dict[str, Any] = {}
    for event in events:
        if event.get("event") == "slot" and event.get("name") in ACTION_SLOTS:
            changes[event["name"]] = event.get("value")
    return slots.updated(**changes) if changes else slots
