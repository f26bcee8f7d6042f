"""Quality flags computed for every turn. Meanings and thresholds: docs/quality-flags.md."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitoring.schema import Flag, Route

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


def compute_flags(
    *,
    route: Route,
    confidence: float,
    total_ms: float,
    thresholds: FlagThresholds,
    grounding_score: float | None = None,
    pii_redacted: bool = False,
    error: bool = False,
    generation_failed: bool = False,
    extra: Iterable[Flag] = (),
) -> frozenset[Flag]:
    """All flags of one turn."""
    flags = set(extra)
    if route in (Route.FAQ, Route.PRODUCTS, Route.GENERATE) and confidence < thresholds.low_confidence:
        flags.add(Flag.LOW_CONFIDENCE)
    if route is Route.GENERATE and not generation_failed:
        flags.add(Flag.GENERATED)
        if grounding_score is not None and grounding_score < thresholds.ungrounded:
            flags.add(Flag.UNGROUNDED)
    if generation_failed:
        flags.add(Flag.GENERATION_FAILED)
    if route is Route.DECLINE:
        flags.add(Flag.DECLINED)
    if route is Route.HANDOFF:
        flags.add(Flag.HANDOFF_REQUESTED)
    if total_ms > thresholds.slow_ms:
        flags.add(Flag.SLOW)
    if error:
        flags.add(Flag.ERROR)
    if pii_redacted:
        flags.add(Flag.PII_REDACTED)
    return frozenset(flags)
