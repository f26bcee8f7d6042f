"""When the bot hands a conversation to a person, and why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.turns import Route
from monitoring.flags import FlagThresholds, TurnFacts, declined, low_confidence, ungrounded


class Reason(StrEnum):
    """Why a conversation was escalated (the ``reason`` of a handoff)."""

    REQUESTED = "requested"
    UNANSWERED = "unanswered"
    NEGATIVE_SENTIMENT = "negative_sentiment"


@dataclass(frozen=True)
class EscalationPolicy:
    """Escalate on request, after ``max_unanswered`` unhelpful turns in a row, or on anger.

    ``thresholds`` are the quality flags' own: a turn is unhelpful exactly when its facts would
    be flagged declined, low-confidence, ungrounded, generation-failed or error. ``automatic``
    off: only a shopper's request escalates (a Rasa project that answers sadness and fallbacks
    itself: bot/rasa/escalation.py).
    """

    max_unanswered: int = 3
    thresholds: FlagThresholds = FlagThresholds()  # noqa: RUF009 - frozen
    automatic: bool = True

    def unhelpful(self, facts: TurnFacts) -> bool:
        """Whether a turn counts towards the consecutive-unanswered limit (the flags' own rules)."""
        return (facts.route is Route.ERROR or facts.error or facts.generation_failed or declined(facts)
                or low_confidence(facts, self.thresholds) or ungrounded(facts, self.thresholds))

    def reason(self, route: Route, unanswered_in_a_row: int, negative: bool) -> Reason | None:
        """The reason to escalate after this turn, or None to carry on."""
        if route is Route.HANDOFF:
            return Reason.REQUESTED
        if not self.automatic:
            return None
        if negative:
            return Reason.NEGATIVE_SENTIMENT
        if self.max_unanswered > 0 and unanswered_in_a_row >= self.max_unanswered:
            return Reason.UNANSWERED
        return None
