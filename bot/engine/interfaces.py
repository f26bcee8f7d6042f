"""The turn engine's contracts: what a channel hands in and gets back, what the policy reads and
decides, what a route handler is given and returns.

Plain data and protocols that import nothing heavy (as rasa-sdk keeps ``interfaces.py``): the
channels, the Rasa responder and the training tools depend on these, not on the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from core.messages import BotMessage
from core.turns import NO_SCORES, Hit, Route, RouterOutput, RoutingScores, TurnRecord

if TYPE_CHECKING:
    from bot.engine.corrections import CorrectionMatch


@dataclass(frozen=True)
class TurnInput:
    """One shopper message as a channel hands it over."""

    conversation_id: str
    text: str
    channel: str = "rest"
    metadata: dict[str, Any] = field(default_factory=dict)
    # The client's address (rate limits on order lookups); empty when unknown.
    client: str = ""


@dataclass(frozen=True)
class TurnResult:
    """The bot's messages and the logged record of the turn."""

    turn_id: str
    messages: tuple[BotMessage, ...]
    record: TurnRecord


@dataclass(frozen=True)
class Slots:
    """What the bot remembers about one conversation."""

    last_product: str | None = None
    order_number: str | None = None
    # The order an anonymous shopper proved theirs (e-mail or postcode) in this conversation.
    verified_order: str | None = None
    handoff: bool = False
    unanswered: int = 0
    turns: int = 0
    shown_products: tuple[str, ...] = field(default=())

    def updated(self, **changes: object) -> Slots:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def as_rasa(self) -> dict[str, object]:
        """Slot values as a rasa-sdk tracker sees them."""
        return {"last_product": self.last_product, "order_number": self.order_number,
                "verified_order": self.verified_order}


@dataclass(frozen=True)
class Entities:
    """What the patterns found in one message.

    ``email`` and ``postcode`` are what an anonymous shopper gives to prove an order is theirs;
    they reach the order-status action and nothing else (the log keeps only placeholders).
    """

    order_number: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    refers_back: bool = False
    payload_intent: str | None = None
    email: str | None = None
    postcode: str | None = None
    # What a product question asks about (price, pack, shipping, ...); None when it asks
    # something the shop's product facts do not cover.
    product_aspect: str | None = None

    @property
    def order_proof(self) -> bool:
        """Whether the message carries an e-mail address or a postcode."""
        return bool(self.email or self.postcode)

    def as_rasa(self) -> list[dict[str, str]]:
        """Rasa entity dicts, as a rasa-sdk action reads them from ``latest_message``."""
        found = {"order_number": self.order_number, "email": self.email, "postcode": self.postcode}
        return [{"entity": name, "value": value} for name, value in found.items() if value]


@dataclass(frozen=True)
class Decision:
    """The chosen route, the entry or intent behind it and how sure the router was."""

    route: Route
    label: str
    confidence: float
    similar: bool = False


@dataclass(frozen=True)
class Signals:
    """Everything a route depends on; fields left at their defaults were not measured."""

    routed: RouterOutput | None = None
    scores: RoutingScores = NO_SCORES
    entities: Entities = field(default_factory=Entities)
    slots: Slots = field(default_factory=Slots)
    correction: CorrectionMatch | None = None
    # A person has (or is about to take) the conversation: the bot stays silent.
    with_person: bool = False
    # The turn failed after (or before) routing: the shopper gets an apology.
    failed: bool = False
    # The message reads as angry or upset (VADER): a reason to hand over to a person.
    negative: bool = False


@dataclass(frozen=True)
class TurnContext:
    """Everything a handler may read about the current message."""

    conversation_id: str
    text: str
    decision: Decision
    scores: RoutingScores
    entities: Entities
    slots: Slots
    metadata: dict[str, Any]
    # The shop-verified customer (bot/identity.py), or None for an anonymous shopper.
    customer_id: str | None = None
    client: str = ""


@dataclass(frozen=True)
class HandlerResult:
    """Messages, updated slots and what the turn log should know."""

    messages: tuple[BotMessage, ...]
    slots: Slots
    answered: bool = True
    evidence: tuple[str, ...] = ()
    grounding: float | None = None
    generation_failed: bool = False
    latency_ms: dict[str, float] = field(default_factory=dict)
    hits: tuple[Hit, ...] = ()


class ProjectAnswers(Protocol):
    """A Rasa project answering its own intents and declining its own way (``bot.rasa``)."""

    def handles(self, label: str) -> bool: ...

    async def answer(self, ctx: TurnContext) -> HandlerResult: ...

    async def decline(self, ctx: TurnContext) -> HandlerResult: ...
