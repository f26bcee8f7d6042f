from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.db import make_engine
from core.turns import Flag, Route
from monitoring.stats import check_window, parse_bucket, percentile, summarise, turn_stats
from monitoring.turnlog import TurnLog
from monitoring.turnlog.windows import TurnPoint
from tests.turns import T0, turn

M = timedelta(minutes=1)


def test_bucketed_stats_from_the_turn_log(tmp_path: Path) -> None:
    log = TurnLog(make_engine(f"sqlite:///{tmp_path / 'turns.db'}"))
    log.create()
    log.write(
        [
            turn("before", -1, total_ms=9999.0),
            turn("a", 1, total_ms=100.0),
            turn("b", 2, total_ms=200.0),
            turn("c", 5, total_ms=300.0, route=Route.GENERATE, flags=(Flag.GENERATED, Flag.LOW_CONFIDENCE)),
            turn("d", 9.99, total_ms=400.0, route=Route.HANDOFF, flags=(Flag.HANDOFF_REQUESTED,)),
            turn("e", 20, total_ms=5000.0, route=Route.ERROR, flags=(Flag.ERROR, Flag.SLOW)),
            turn("at-until", 30, total_ms=9999.0),
        ]
    )
    log.set_feedback("c1", "a", 1)
    log.set_feedback("c1", "c", -1)
    report = turn_stats(log.engine, T0, T0 + 30 * M, parse_bucket("10m"))
    log.engine.dispose()

    first, empty, last = report.buckets
    assert (first.start, first.end) == (T0, T0 + 10 * M)
    assert first.turns == 4
    # [100, 200, 300, 400]: median halfway between 200 and 300; p95 at rank 2.85.
    assert first.latency_p50_ms == 250.0
    assert first.latency_p95_ms == pytest.approx(385.0)
    assert first.routes["faq"] == 2 and first.routes["generate"] == 1 and first.routes["handoff"] == 1
    assert first.routes["error"] == 0
    assert first.flags["generated"] == 1 and first.flags["negative_feedback"] == 1
    assert (first.feedback_up, first.feedback_down) == (1, 1)
    assert first.handoff_rate == 0.25
    assert empty.turns == 0 and empty.latency_p50_ms is None and empty.handoff_rate is None
    assert last.turns == 1 and last.latency_p95_ms == 5000.0 and last.flags["slow"] == 1

    total = report.total
    assert total.turns == 5, "the window is [since, until)"
    assert total.latency_p50_ms == 300.0
    assert total.latency_p95_ms == pytest.approx(4080.0)  # 400 + 0.8 * (5000 - 400)
    assert total.handoff_rate == 0.2

    body = report.to_json()
    assert body["bucket_seconds"] == 600
    assert body["buckets"][0]["latency_ms"] == {"p50": 250.0, "p95": 385.0}
    assert body["buckets"][0]["flag_rates"]["generated"] == 0.25
    assert body["buckets"][0]["route_share"]["faq"] == 0.5
    assert body["buckets"][1]["flag_rates"]["error"] is None
    assert body["total"]["feedback"] == {"up": 1, "down": 1}


def test_buckets_align_to_the_clock_and_clip_to_the_window() -> None:
    points = [
        TurnPoint(T0 + 6 * M, "faq", frozenset(), 10.0),
        TurnPoint(T0 + 12 * M, "faq", frozenset(), 20.0),
        TurnPoint(T0 + 24 * M, "faq", frozenset(), 30.0),
    ]
    report = summarise(points, T0 + 5 * M, T0 + 25 * M, timedelta(minutes=10))
    spans = [(b.start - T0, b.end - T0) for b in report.buckets]
    assert spans == [(5 * M, 10 * M), (10 * M, 20 * M), (20 * M, 25 * M)]
    assert [b.turns for b in report.buckets] == [1, 1, 1]


def test_naive_times_are_utc() -> None:
    naive = datetime(2026, 11, 23, 12, 0)
    report = summarise([TurnPoint(naive, "faq", frozenset())], naive, naive + M, M)
    assert report.total.turns == 1
    assert report.since.tzinfo is UTC


def test_percentile() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("1m", 60), ("5m", 300), ("1h", 3600), ("1d", 86400)]
)
def test_parse_bucket(text: str, seconds: int) -> None:
    assert parse_bucket(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "0m", "m", "1w", "1.5h", "10", "-1h", "1H", "99999m"])
def test_parse_bucket_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_bucket(text)


def test_check_window() -> None:
    check_window(T0, T0 + timedelta(days=1), timedelta(minutes=1))  # 1440 buckets
    with pytest.raises(ValueError, match="after"):
        check_window(T0, T0, M)
    with pytest.raises(ValueError, match="buckets"):
        check_window(T0, T0 + timedelta(days=1), timedelta(seconds=1))
