"""Sentiment of a shopper's message with VADER (vaderSentiment), a maintained lexicon model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Sentiment:
    """VADER's compound score in [-1, 1] and whether it is clearly negative."""

    compound: float
    negative: bool


class SentimentScorer(Protocol):
    """Scores the sentiment of one message."""

    def warm_up(self) -> None: ...

    def run(self, text: str) -> Sentiment: ...


class VaderSentiment:
    """VADER's compound score; ``threshold`` and below counts as clearly negative.

    VADER was built for short social-media text (negations, "!!!", capitals, emoticons), which
    is what chat messages look like; -0.5 is well past the -0.05 its authors use for "negative".
    """

    def __init__(self, threshold: float = -0.5) -> None:
        self.threshold = threshold
        self._analyzer: Any = None

    def warm_up(self) -> None:
        """Load the lexicon (once)."""
        if self._analyzer is None:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

            self._analyzer = SentimentIntensityAnalyzer()

    def run(self, text: str) -> Sentiment:
        """Score one message."""
        self.warm_up()
        compound = float(self._analyzer.polarity_scores(text)["compound"])
        return Sentiment(compound, compound <= self.threshold)
