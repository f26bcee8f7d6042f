"""The turn engine's contracts: what a channel hands in and gets back, what the policy reads and
decides, what a route handler is given and returns.

Plain data and protocols that import nothing heavy (as rasa-sdk keeps ``interfaces.py``): the
channels, the Rasa responder and the training tools depend on these, not on the engine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
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
class Search:
    """A product search and its constraints, as a follow-up can narrow, widen or page it."""

    # What the shopper asked for, lead-ins and price phrases removed ("lunch bags").
    words: str
    colour: str | None = None
    material: str | None = None
    # "large" or "small": names holding a size word of that side (``bot/engine/context.py``).
    size: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    # Words a product's name must not hold ("not the vintage ones"), and must hold ("only round ones").
    without: tuple[str, ...] = ()
    must: tuple[str, ...] = ()
    # Categories shown first: a present for a child asks for toys, party things, stationery.
    prefer: tuple[str, ...] = ()
    # Every product this search has shown so far: "show me more" shows the next ones.
    seen: tuple[str, ...] = ()
    # "ascending" or "descending" by price: "the cheapest candles", "your most expensive clock".
    order: str | None = None
    # A present is wanted: no cards or wrapping; the shop's favourites when nothing else is said.
    present: bool = False

    def query(self) -> str:
        """The text the catalogue is searched with."""
        words = self.words or ("presents" if self.present else "")
        return " ".join(w for w in (self.size, self.colour, self.material, words) if w)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (kept with the conversation's slots)."""
        return {**asdict(self), "without": list(self.without), "must": list(self.must),
                "prefer": list(self.prefer), "seen": list(self.seen)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Search:
        """Read :meth:`to_json` output; unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        return cls(**{**values, "without": tuple(values.get("without") or ()),
                      "must": tuple(values.get("must") or ()), "prefer": tuple(values.get("prefer") or ()),
                      "seen": tuple(values.get("seen") or ())})


@dataclass(frozen=True)
class Slots:
    """What the bot remembers about one conversation: the dialogue state.

    ``last_product`` is the product in focus, ``shown_products`` the cards of the last answer
    that showed any (in order), ``search`` the last product search with its constraints,
    ``topic`` what the last answer was about (``faq``, ``products``, ``product`` or ``order``),
    ``faq_topic`` the last FAQ entry answered and ``aspect`` the last product fact asked about.
    ``compared`` is what the last answer compared, when it compared some of the cards shown ("compare
    the first two": "which is cheaper?" next asks about those two); the next answer drops it.
    """

    last_product: str | None = None
    order_number: str | None = None
    # The order an anonymous shopper proved theirs (e-mail or postcode) in this conversation.
    verified_order: str | None = None
    handoff: bool = False
    unanswered: int = 0
    turns: int = 0
    shown_products: tuple[str, ...] = field(default=())
    search: Search | None = None
    topic: str | None = None
    faq_topic: str | None = None
    aspect: str | None = None
    compared: tuple[str, ...] = field(default=())

    @property
    def asked_order_number(self) -> bool:
        """The last answer was about an order and no number is known: it asked for one."""
        return self.topic == "order" and not self.order_number

    def updated(self, **changes: object) -> Slots:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (what the conversation memory stores)."""
        return {**asdict(self), "shown_products": list(self.shown_products), "compared": list(self.compared),
                "search": self.search.to_json() if self.search else None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Slots:
        """Read :meth:`to_json` output (or an older one); unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        search = values.get("search")
        return cls(**{**values, "shown_products": tuple(values.get("shown_products") or ()),
                      "compared": tuple(values.get("compared") or ()),
                      "search": Search.from_json(search) if isinstance(search, dict) else None})

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
    # What a present's recipient is into ("she loves gardening": gardening).
    interest: str | None = None
    # How many the shopper would buy ("I'll take 3, how much?"): a price answer gives the total.
    quantity: int | None = None
    # The message is about a child ("a present for my 8 year old niece").
    child: bool = False

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
class Reading:
    """How a message reads in its conversation (``bot/engine/context.py``).

    ``text`` is what is routed: the message itself, or its standalone reading when it leans on
    what came before. ``resolved`` is that standalone reading (None: the message stood alone),
    ``refers_to`` the stock codes it referred to, ``act`` the kind of follow-up (``ordinal``,
    ``pronoun``, ``refine``, ``correct``, ``compare``, ``more``, ``similar``, ``faq``,
    ``past``: an ordinal past the last card shown, or ``another_order``: an order other than
    the one looked up; None when the message stood alone),
    ``aspect`` the product fact asked about (a correction's is the previous question's),
    ``search`` the product search a follow-up narrows or pages.
    """

    text: str
    resolved: str | None = None
    refers_to: tuple[str, ...] = ()
    act: str | None = None
    aspect: str | None = None
    search: Search | None = None

    @classmethod
    def alone(cls, text: str) -> Reading:
        """A message that does not lean on the conversation."""
        return cls(text)


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
    # How the message reads in its conversation (a first message stands alone).
    reading: Reading | None = None
    # The message's language when it is not English (ISO 639-1, "und" when unnamed): it is
    # answered in that language with what the bot does in English, and a person offered.
    language: str | None = None


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
    reading: Reading | None = None
    language: str | None = None


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
    # A generated draft the verifier withheld (the shopper got the honest reply): for auditors.
    withheld: str | None = None


class ProjectAnswers(Protocol):
    """A Rasa project answering its own intents and declining its own way (``bot.rasa``)."""

    def handles(self, label: str) -> bool: ...

    async def active_loop(self, conversation_id: str) -> str | None: ...

    async def answer(self, ctx: TurnContext) -> HandlerResult: ...

    async def decline(self, ctx: TurnContext) -> HandlerResult: ...
