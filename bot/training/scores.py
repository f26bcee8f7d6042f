"""Router quality metrics: in-scope accuracy, macro-F1 and out-of-scope precision/recall/F1.

A prediction is a knowledge entry id, or ``None`` when the router does not answer from the
knowledge (it declines or generates). An expected ``None`` marks an out-of-scope case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RouterScores:
    """The figures ``shopbot eval`` prints."""

    n: int
    in_scope_accuracy: float
    macro_f1: float
    oos_precision: float
    oos_recall: float
    oos_f1: float


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def macro_f1(expected: Sequence[str | None], predicted: Sequence[str | None]) -> float:
    """Mean F1 over the in-scope classes that occur in ``expected``."""
    classes = sorted({e for e in expected if e is not None})
    scores = []
    for c in classes:
        tp = sum(1 for e, p in zip(expected, predicted, strict=True) if e == c and p == c)
        fp = sum(1 for e, p in zip(expected, predicted, strict=True) if e != c and p == c)
        fn = sum(1 for e, p in zip(expected, predicted, strict=True) if e == c and p != c)
        scores.append(_f1(_ratio(tp, tp + fp), _ratio(tp, tp + fn)))
    return sum(scores) / len(scores) if scores else 0.0


def score_router(expected: Sequence[str | None], predicted: Sequence[str | None]) -> RouterScores:
    """All router metrics for paired expected/predicted labels."""
    if len(expected) != len(predicted):
        raise ValueError("expected and predicted differ in length")
    pairs = list(zip(expected, predicted, strict=True))
    in_scope = [(e, p) for e, p in pairs if e is not None]
    oos_tp = sum(1 for e, p in pairs if e is None and p is None)
    predicted_oos = sum(1 for _, p in pairs if p is None)
    actual_oos = sum(1 for e, _ in pairs if e is None)
    precision, recall = _ratio(oos_tp, predicted_oos), _ratio(oos_tp, actual_oos)
    return RouterScores(
        n=len(pairs),
        in_scope_accuracy=_ratio(sum(1 for e, p in in_scope if e == p), len(in_scope)),
        macro_f1=macro_f1(expected, predicted),
        oos_precision=precision,
        oos_recall=recall,
        oos_f1=_f1(precision, recall),
    )
