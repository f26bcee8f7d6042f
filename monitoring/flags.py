"""Quality flags computed for every turn. Meanings and thresholds: docs/quality-flags.md."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from core.turns import Flag, Route

# The routing intent of off-topic examples (data/intents.yml): known, but not a phrasing the shop
# answers, so a message near only these is still unfamiliar.
OUT_OF_SCOPE = "out_of_scope"
# Routes the bot did not choose from the message: a person has it, or the turn failed.
NOT_ROUTED = frozenset({Route.HUMAN, Route.ERROR})
_WORD = re.compile(r"[a-z0-9£.]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "to",
        "in",
        "on",
        "for",
        "is",
        "are",
        "was",
        "be",
        "it",
        "this",
        "that",
        "with",
        "as",
        "at",
        "by",
        "from",
        "our",
        "we",
        "you",
        "your",
        "i",
        "me",
        "my",
        "can",
        "will",
        "would",
        "could",
        "should",
        "do",
        "does",
        "has",
        "have",
        "not",
        "no",
        "yes",
        "so",
        "if",
        "but",
        "all",
        "any",
        "also",
        "just",
        "very",
        "more",
        "most",
        "some",
        "there",
        "here",
        "what",
        "which",
        "who",
        "how",
        "when",
        "where",
        "why",
    ]
)


@dataclass(frozen=True)
class FlagThresholds:
    """Where a measurement turns into a flag."""

    low_confidence: float = 0.6
    ungrounded: float = 0.5
    slow_ms: float = 2000.0
    # Cosine to the nearest in-scope phrasing; measured in docs/quality-flags.md ("unfamiliar").
    unfamiliar: float = 0.4


def content_words(text: str) -> set[str]:
    """Lower-cased words that carry meaning (stop words and 1-letter tokens removed)."""
    return {w.strip(".") for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


def grounding(answer: str, evidence: Sequence[str]) -> float:
    """Share of the answer's content words found in the evidence (1.0 for an empty answer)."""
    words = content_words(answer)
    if not words:
        return 1.0
    support = set().union(*(content_words(e) for e in evidence)) if evidence else set()
    return len(words & support) / len(words)


def nearest_known(labels: Iterable[tuple[str, float]], promoted: float | None = None) -> float | None:
    """Cosine of a message to the nearest in-scope phrasing, from its scored entries (best first).

    ``labels`` are the router's nearest-neighbour scores (``RoutingScores.labels``); the
    off-topic examples do not count as known phrasings. ``promoted`` is the cosine to a question
    an auditor promoted since the index was built. None when no in-scope entry was among the
    neighbours searched: the distance is then unknown, and no flag is raised.
    """
    nearest = next((float(score) for label, score in labels if label != OUT_OF_SCOPE), None)
    if promoted is None:
        return nearest
    return promoted if nearest is None else max(nearest, promoted)


@dataclass(frozen=True)
class TurnFacts:
    """What was measured in one turn; the flags follow from these and the thresholds alone.

    Stored with each record (``metadata["facts"]``) so a later event, such as a thumbs down,
    recomputes the flags through :func:`compute_flags` instead of editing them by hand.
    """

    route: Route
    confidence: float = 1.0
    total_ms: float = 0.0
    grounding_score: float | None = None
    pii_redacted: bool = False
    error: bool = False
    generation_failed: bool = False
    negative_sentiment: bool = False
    escalated: bool = False
    # Whether the route's handler could answer: an FAQ entry gone, no product in range, a
    # question the product's facts do not cover or too many order lookups are not answers.
    answered: bool = True
    feedback: int | None = None
    # Cosine of the message to the nearest in-scope FAQ or intent phrasing (:func:`nearest_known`).
    nearest_phrasing: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (the route as its string)."""
        return {**asdict(self), "route": str(self.route)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TurnFacts:
        """Read :meth:`to_json` output; unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        return cls(**{**values, "route": Route(values["route"])})


# Routes that answer from the knowledge or the catalogue, where the router's confidence counts.
ANSWERING = frozenset({Route.FAQ, Route.PRODUCTS, Route.GENERATE})


def low_confidence(facts: TurnFacts, thresholds: FlagThresholds) -> bool:
    """An answer the router was not sure of."""
    return facts.route in ANSWERING and facts.confidence < thresholds.low_confidence


def ungrounded(facts: TurnFacts, thresholds: FlagThresholds) -> bool:
    """A generated answer whose words the evidence does not hold."""
    return (facts.route is Route.GENERATE and not facts.generation_failed
            and facts.grounding_score is not None and facts.grounding_score < thresholds.ungrounded)


def declined(facts: TurnFacts) -> bool:
    """The bot said it cannot help: routed to a decline, or its handler had no answer to give.

    A failed turn or a failed generation is flagged as that instead.
    """
    if facts.route is Route.DECLINE:
        return True
    failed = facts.error or facts.generation_failed
    return not facts.answered and facts.route not in NOT_ROUTED and not failed


def compute_flags(*, thresholds: FlagThresholds, **facts: Any) -> frozenset[Flag]:
    """All flags of one turn, from its facts given by name (:class:`TurnFacts`' fields)."""
    return flags_of(TurnFacts(**facts), thresholds)


def flags_of(facts: TurnFacts, thresholds: FlagThresholds) -> frozenset[Flag]:
    """All flags of one turn: the one place a flag is decided."""
    flags: set[Flag] = set()
    if low_confidence(facts, thresholds):
        flags.add(Flag.LOW_CONFIDENCE)
    if facts.route is Route.GENERATE and not facts.generation_failed:
        flags.add(Flag.GENERATED)
    if ungrounded(facts, thresholds):
        flags.add(Flag.UNGROUNDED)
    if facts.generation_failed:
        flags.add(Flag.GENERATION_FAILED)
    if declined(facts):
        flags.add(Flag.DECLINED)
    if facts.route is Route.HANDOFF:
        flags.add(Flag.HANDOFF_REQUESTED)
    if facts.total_ms > thresholds.slow_ms:
        flags.add(Flag.SLOW)
    if facts.error:
        flags.add(Flag.ERROR)
    if facts.pii_redacted:
        flags.add(Flag.PII_REDACTED)
    if facts.negative_sentiment:
        flags.add(Flag.NEGATIVE_SENTIMENT)
    if facts.escalated:
        flags.add(Flag.ESCALATED)
    if facts.feedback is not None and facts.feedback < 0:
        flags.add(Flag.NEGATIVE_FEEDBACK)
    nearest = facts.nearest_phrasing
    if facts.route not in NOT_ROUTED and nearest is not None and nearest < thresholds.unfamiliar:
        flags.add(Flag.UNFAMILIAR)
    return frozenset(flags)
