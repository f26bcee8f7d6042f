"""The turn vocabulary: routes, flags, retrieved hits, what the router and the search saw of a
message, and the turn record, one typed schema shared by the log, the metrics and the consoles."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Route(StrEnum):
    """Where the pipeline sent a message."""

    FAQ = "faq"
    PRODUCTS = "products"
    RECOMMEND = "recommend"
    ORDER_STATUS = "order_status"
    GENERATE = "generate"
    DECLINE = "decline"
    HANDOFF = "handoff"
    HUMAN = "human"
    ERROR = "error"


class Flag(StrEnum):
    """Quality flags; their meaning and thresholds are documented in docs/quality-flags.md."""

    LOW_CONFIDENCE = "low_confidence"
    GENERATED = "generated"
    UNGROUNDED = "ungrounded"
    DECLINED = "declined"
    HANDOFF_REQUESTED = "handoff_requested"
    ESCALATED = "escalated"
    NEGATIVE_SENTIMENT = "negative_sentiment"
    SLOW = "slow"
    ERROR = "error"
    NEGATIVE_FEEDBACK = "negative_feedback"
    PII_REDACTED = "pii_redacted"
    GENERATION_FAILED = "generation_failed"
    UNFAMILIAR = "unfamiliar"


STAGES = ("embed", "search", "action", "generate", "total")


@dataclass(frozen=True)
class Hit:
    """One retrieved item with its similarity score."""

    id: str
    kind: str  # "faq" | "product" | "intent"
    score: float
    text: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON form used in logs and exports."""
        return {"id": self.id, "kind": self.kind, "score": round(self.score, 4), "text": self.text}


@dataclass(frozen=True)
class RouterOutput:
    """Decision for one message: ``label`` None means decline; ``top_label`` is never empty.

    ``confidence`` is above 0.5 exactly when the message is answered; ``ranking`` holds the
    top in-scope entries with their softmax probabilities; ``off_topic`` is the share the
    router's ``out_of_scope`` class takes of the same softmax (0 where it has none).
    """

    label: str | None
    top_label: str
    confidence: float
    ranking: tuple[tuple[str, float], ...] = field(default=())
    off_topic: float = 0.0


@dataclass(frozen=True)
class RoutingScores:
    """Per-entry nearest-neighbour scores (best first) and the evidence behind them."""

    labels: tuple[tuple[str, float], ...]
    hits: tuple[Hit, ...]
    product_hits: tuple[Hit, ...]
    # The catalogue product the message names by its name's words (retrieval/product_names.py);
    # score = the share of the name the message holds.
    named: Hit | None = None

    @property
    def top(self) -> tuple[str, float]:
        """Best entry id and its score; ``("", 0.0)`` when the knowledge is empty."""
        return self.labels[0] if self.labels else ("", 0.0)


# Nothing searched: no entry and no product is near.
NO_SCORES = RoutingScores((), (), ())


@dataclass(frozen=True)
class TurnRecord:
    """Everything logged about one turn; ``user_text`` is already redacted."""

    conversation_id: str
    turn_id: str
    ts: datetime
    channel: str
    user_text: str
    route: Route
    response: tuple[dict[str, Any], ...]
    hits: tuple[Hit, ...] = ()
    latency_ms: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    flags: frozenset[Flag] = frozenset()
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSONL export shape (keys are a public contract)."""
        return {
            "conversation_id": self.conversation_id,
            "turn_id": self.turn_id,
            "ts": self.ts.isoformat(),
            "channel": self.channel,
            "user_text": self.user_text,
            "route": str(self.route),
            "response": list(self.response),
            "hits": [h.to_json() for h in self.hits],
            "latency_ms": {k: round(v, 2) for k, v in self.latency_ms.items()},
            "flags": sorted(str(f) for f in self.flags),
            "versions": dict(self.versions),
            # How the message read in its conversation: its standalone reading (None when it
            # stood alone) and the stock codes it referred to.
            "resolved": self.metadata.get("resolved"),
            "refers_to": list(self.metadata.get("refers_to") or ()),
        }
