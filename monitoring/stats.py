"""Turn-log statistics per time bucket: latency percentiles, route mix, flag rates, feedback."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from core.db import as_utc
from core.turns import Flag, Route
from monitoring.turnlog.windows import TurnPoint, points

_BUCKET = re.compile(r"^([1-9][0-9]{0,3})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_BUCKETS = 2000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_bucket(text: str) -> timedelta:
    """``30s``, ``5m``, ``1h``, ``1d`` … as a timedelta; ValueError otherwise."""
    match = _BUCKET.match(text)
    if match is None:
        raise ValueError(f"bucket must look like 30s, 5m, 1h or 1d, not {text!r}")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) by linear interpolation between ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    routes: Counter[str] = field(default_factory=Counter)
    flags: Counter[str] = field(default_factory=Counter)
    up: int = 0
    down: int = 0
    turns: int = 0

    def add(self, point: TurnPoint) -> None:
        self.turns += 1
        self.routes[point.route] += 1
        self.flags.update(point.flags)
        if point.total_ms is not None:
            self.latencies.append(point.total_ms)
        if point.feedback is not None and point.feedback > 0:
            self.up += 1
        elif point.feedback is not None and point.feedback < 0:
            self.down += 1


@dataclass(frozen=True)
class BucketStats:
    """Statistics of the turns in ``[start, end)``."""

    start: datetime
    end: datetime
    turns: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    routes: dict[str, int]
    flags: dict[str, int]
    feedback_up: int
    feedback_down: int

    @classmethod
    def of(cls, start: datetime, end: datetime, tally: _Tally) -> BucketStats:
        """Summarise a tally; every route and flag is present, with 0 when absent."""
        return cls(
            start=start,
            end=end,
            turns=tally.turns,
            latency_p50_ms=percentile(tally.latencies, 0.5),
            latency_p95_ms=percentile(tally.latencies, 0.95),
            routes={str(r): tally.routes.get(str(r), 0) for r in Route},
            flags={str(f): tally.flags.get(str(f), 0) for f in Flag},
            feedback_up=tally.up,
            feedback_down=tally.down,
        )

    def rate(self, count: int) -> float | None:
        """``count`` as a share of this bucket's turns (None when there were none)."""
        return count / self.turns if self.turns else None

    @property
    def handoff_rate(self) -> float | None:
        """Share of turns where the shopper asked for a person."""
        return self.rate(self.flags[str(Flag.HANDOFF_REQUESTED)])

    def to_json(self) -> dict[str, Any]:
        """API shape (latencies in ms, rates as fractions)."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "turns": self.turns,
            "latency_ms": {"p50": _round(self.latency_p50_ms), "p95": _round(self.latency_p95_ms)},
            "routes": dict(self.routes),
            "route_share": {k: _round(self.rate(v), 4) for k, v in self.routes.items()},
            "flags": dict(self.flags),
            "flag_rates": {k: _round(self.rate(v), 4) for k, v in self.flags.items()},
            "feedback": {"up": self.feedback_up, "down": self.feedback_down},
            "handoff_rate": _round(self.handoff_rate, 4),
        }


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class StatsReport:
    """Statistics of a window, overall and per bucket (empty buckets included)."""

    since: datetime
    until: datetime
    bucket: timedelta
    total: BucketStats
    buckets: tuple[BucketStats, ...]

    def to_json(self) -> dict[str, Any]:
        """API shape."""
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "bucket_seconds": int(self.bucket.total_seconds()),
            "total": self.total.to_json(),
            "buckets": [b.to_json() for b in self.buckets],
        }


def bucket_start(ts: datetime, bucket: timedelta) -> datetime:
    """Start of the bucket holding ``ts``; buckets are aligned to the Unix epoch in UTC."""
    return EPOCH + ((as_utc(ts) - EPOCH) // bucket) * bucket


def check_window(since: datetime, until: datetime, bucket: timedelta) -> None:
    """ValueError when the window is empty or would need more than ``MAX_BUCKETS`` buckets."""
    if until <= since:
        raise ValueError("until must be after since")
    count = (bucket_start(until - timedelta(microseconds=1), bucket) - bucket_start(since, bucket)) // bucket
    if count + 1 > MAX_BUCKETS:
        raise ValueError(f"{count + 1} buckets requested; at most {MAX_BUCKETS}: widen the bucket")


def summarise(
    points: Iterable[TurnPoint], since: datetime, until: datetime, bucket: timedelta
) -> StatsReport:
    """Statistics of the points in ``[since, until)``; points outside are ignored."""
    since, until = as_utc(since), as_utc(until)
    check_window(since, until, bucket)
    total = _Tally()
    tallies: dict[datetime, _Tally] = {}
    for point in points:
        if not since <= as_utc(point.ts) < until:
            continue
        total.add(point)
        tallies.setdefault(bucket_start(point.ts, bucket), _Tally()).add(point)
    buckets = []
    start = bucket_start(since, bucket)
    while start < until:
        # Edge buckets are clipped to the window so that no bucket claims time it did not count.
        end = start + bucket
        buckets.append(BucketStats.of(max(start, since), min(end, until), tallies.get(start, _Tally())))
        start = end
    return StatsReport(since, until, bucket, BucketStats.of(since, until, total), tuple(buckets))


def turn_stats(engine: Engine, since: datetime, until: datetime, bucket: timedelta) -> StatsReport:
    """Statistics of the turn log in ``[since, until)`` per ``bucket`` (blocking)."""
    check_window(as_utc(since), as_utc(until), bucket)
    return summarise(points(engine, since, until), since, until, bucket)
