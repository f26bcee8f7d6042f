"""Route messages with any router version, away from the live server, exactly as it would.

The gate and the replay both need "what would this version do with this message": the turn
encoder of the version over the knowledge base's search, then the turn engine's own signals,
policy and facts (``bot/engine/signals.py``), for a first turn of a fresh conversation.
Promoted corrections are left out on purpose: a candidate must have learnt them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.engine.policy import RoutingThresholds, answered_entry
from bot.engine.signals import facts_of, route_first_turn
from core.turns import Flag, Route
from monitoring.flags import FlagThresholds, flags_of
from retrieval.knowledge_base import KnowledgeBase
from retrieval.turn_encoder import TurnEncoder
from retrieval.understanding import understanding_of

_BATCH = 64


@dataclass(frozen=True)
class Routed:
    """Where one message goes: route, entry (None unless answered from knowledge) and flags."""

    route: Route
    label: str
    entry: str | None
    confidence: float
    flags: frozenset[Flag]

    @property
    def declined(self) -> bool:
        """The bot said it cannot help."""
        return self.route is Route.DECLINE

    def to_json(self) -> dict[str, object]:
        """The API shape."""
        return {"route": str(self.route), "label": self.label, "confidence": round(self.confidence, 4)}


class OfflineRouter:
    """One router version over the live knowledge base, routing batches of messages."""

    def __init__(
        self,
        encoder: TurnEncoder,
        kb: KnowledgeBase,
        routing: RoutingThresholds,
        flags: FlagThresholds,
    ) -> None:
        self.encoder = encoder
        self.routing = routing
        self.flags = flags
        self._understanding = understanding_of(encoder, kb)

    @property
    def version(self) -> str:
        """The turn encoder's version."""
        return self.encoder.version

    def warm_up(self) -> None:
        """Load the version's turn encoder."""
        self._understanding.warm_up()

    def run(self, texts: Sequence[str]) -> list[Routed]:
        """Each message routed, in order (blocking: call it off the event loop)."""
        out: list[Routed] = []
        for start in range(0, len(texts), _BATCH):
            batch = list(texts[start : start + _BATCH])
            for text, understood in zip(batch, self._understanding.run(batch), strict=True):
                signals, decision = route_first_turn(text, understood.routed, understood.scores, self.routing)
                facts = facts_of(signals, decision)
                out.append(Routed(decision.route, decision.label, answered_entry(decision),
                                  decision.confidence, flags_of(facts, self.flags)))
        return out
