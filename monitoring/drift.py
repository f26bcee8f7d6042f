"""Drift of the shop's traffic, read from the turn log: hourly rates and the messages behind them.

The rates are those the Prometheus drift rules watch (monitoring/prometheus/alerts.yml), over
the turns the bot routed (not a person's, not failed ones): declines, `unfamiliar` and
`low_confidence` messages per routed turn, thumbs down per rated answer, `ungrounded` per
generated answer. The examples are the latest unfamiliar messages, redacted as logged, for
auditors to review and promote.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from core.db import as_utc
from core.turns import Flag
from monitoring.turnlog.windows import points, unfamiliar_messages

HOUR = timedelta(hours=1)
MAX_HOURS = 168
MAX_EXAMPLES = 10
# The rates of a report's hours, and the keys a model baseline may hold (monitoring/metrics.py).
RATES = ("decline_rate", "unfamiliar_share", "low_confidence_share", "thumbs_down_rate", "ungrounded_rate")


@dataclass
class Tally:
    """Counts of routed turns behind the drift rates."""

    turns: int = 0
    declined: int = 0
    unfamiliar: int = 0
    low_confidence: int = 0
    rated: int = 0
    down: int = 0
    generated: int = 0
    ungrounded: int = 0
    confidence_sum: float = 0.0
    confidence_count: int = 0

    def add(self, flags: Iterable[str], feedback: int | None, confidence: float | None) -> None:
        """Count one routed turn."""
        names = set(flags)
        self.turns += 1
        self.declined += str(Flag.DECLINED) in names
        self.unfamiliar += str(Flag.UNFAMILIAR) in names
        self.low_confidence += str(Flag.LOW_CONFIDENCE) in names
        self.generated += str(Flag.GENERATED) in names
        self.ungrounded += str(Flag.UNGROUNDED) in names
        if feedback:
            self.rated += 1
            self.down += feedback < 0
        if confidence is not None:
            self.confidence_sum += confidence
            self.confidence_count += 1

    def rates(self) -> dict[str, float | None]:
        """Each rate of ``RATES``; None where nothing was counted to divide by."""
        return {
            "decline_rate": _share(self.declined, self.turns),
            "unfamiliar_share": _share(self.unfamiliar, self.turns),
            "low_confidence_share": _share(self.low_confidence, self.turns),
            "thumbs_down_rate": _share(self.down, self.rated),
            "ungrounded_rate": _share(self.ungrounded, self.generated),
        }

    @property
    def mean_confidence(self) -> float | None:
        """Mean router confidence of the counted turns."""
        return _share(self.confidence_sum, self.confidence_count)


def _share(part: float, whole: int) -> float | None:
    return part / whole if whole else None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass(frozen=True)
class DriftHour:
    """The rates of the routed turns logged in ``[start, end)``."""

    start: datetime
    end: datetime
    tally: Tally

    def to_json(self) -> dict[str, Any]:
        """API shape: rates as fractions (null with nothing to divide by)."""
        t = self.tally
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "turns": t.turns,
            **{k: _rounded(v) for k, v in t.rates().items()},
            "mean_confidence": _rounded(t.mean_confidence),
            "rated": t.rated,
            "generated": t.generated,
        }


@dataclass(frozen=True)
class UnfamiliarExample:
    """An unfamiliar message as logged (already redacted)."""

    turn_id: str
    ts: datetime
    user_text: str
    route: str
    nearest_phrasing: float | None

    def to_json(self) -> dict[str, Any]:
        """API shape."""
        return {
            "turn_id": self.turn_id,
            "ts": self.ts.isoformat(),
            "user_text": self.user_text,
            "route": self.route,
            "nearest_phrasing": _rounded(self.nearest_phrasing),
        }


@dataclass(frozen=True)
class DriftReport:
    """Hourly rates of a window (oldest first, empty hours included), its total, and examples."""

    since: datetime
    until: datetime
    hours: tuple[DriftHour, ...]
    total: DriftHour
    examples: tuple[UnfamiliarExample, ...]

    def to_json(self) -> dict[str, Any]:
        """API shape."""
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "hours": [h.to_json() for h in self.hours],
            "total": self.total.to_json(),
            "examples": [e.to_json() for e in self.examples],
        }


def hour_start(ts: datetime) -> datetime:
    """The start of the UTC hour holding ``ts``."""
    return as_utc(ts).replace(minute=0, second=0, microsecond=0)


def window_rates(engine: Engine, since: datetime, until: datetime) -> dict[str, float]:
    """The rates of the routed turns in ``[since, until)``, for a baseline (those with a divisor)."""
    total = Tally()
    for point in points(engine, since, until, routed=True):
        total.add(point.flags, point.feedback, point.confidence)
    return {k: v for k, v in total.rates().items() if v is not None}


def unfamiliar_examples(
    engine: Engine, since: datetime, until: datetime, limit: int = MAX_EXAMPLES
) -> list[UnfamiliarExample]:
    """The latest ``limit`` unfamiliar messages logged in ``[since, until)``, newest first."""
    return [UnfamiliarExample(m.turn_id, m.ts, m.text, m.route, m.nearest_phrasing)
            for m in unfamiliar_messages(engine, since, until, limit)]


def drift_report(
    engine: Engine, hours: int = 24, *, now: datetime | None = None, examples: int = MAX_EXAMPLES
) -> DriftReport:
    """The last ``hours`` UTC hours up to ``now`` (the current one partly), read from the turn log.

    Blocking: call it from a worker thread.
    """
    if not 1 <= hours <= MAX_HOURS:
        raise ValueError(f"hours must be from 1 to {MAX_HOURS}")
    until = as_utc(now or datetime.now(UTC))
    since = hour_start(until) - (hours - 1) * HOUR
    tallies: dict[datetime, Tally] = {}
    total = Tally()
    for point in points(engine, since, until, routed=True):
        tallies.setdefault(hour_start(point.ts), Tally()).add(point.flags, point.feedback, point.confidence)
        total.add(point.flags, point.feedback, point.confidence)
    starts = [since + i * HOUR for i in range(hours)]
    return DriftReport(
        since=since,
        until=until,
        hours=tuple(DriftHour(s, min(s + HOUR, until), tallies.get(s, Tally())) for s in starts),
        total=DriftHour(since, until, total),
        examples=tuple(unfamiliar_examples(engine, since, until, examples)),
    )
