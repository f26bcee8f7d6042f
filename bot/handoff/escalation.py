"""When the bot hands a conversation to a person, and why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.turns import Flag, Route

# Flags that mean the bot did not really help, even if it said something.
UNHELPFUL = frozenset({Flag.DECLINED, Flag.LOW_CONFIDENCE, Flag.GENERATION_FAILED, Flag.UNGROUNDED,
                       Flag.ERROR})


class Reason(StrEnum):
    """Why a conversation was escalated (the ``reason`` of a handoff)."""

    REQUESTED = "requested"
    UNANSWERED = "unanswered"
    NEGATIVE_SENTIMENT = "negative_sentiment"


@dataclass(frozen=True)
class EscalationPolicy:
    """Escalate on request, after ``max_unanswered`` unhelpful turns in a row, or on anger."""

    max_unanswered: int = 3

    def unhelpful(self, route: Route, flags: frozenset[Flag]) -> bool:
        """Whether a turn counts towards the consecutive-unanswered limit."""
        return route in (Route.DECLINE, Route.ERROR) or bool(flags & UNHELPFUL)

    def reason(self, route: Route, unanswered_in_a_row: int, negative: bool) -> Reason | None:
        """The reason to escalate after this turn, or None to carry on."""
        if route is Route.HANDOFF:
            return Reason.REQUESTED
        if negative:
            return Reason.NEGATIVE_SENTIMENT
        if self.max_unanswered > 0 and unanswered_in_a_row >= self.max_unanswered:
            return Reason.UNANSWERED
        return None
