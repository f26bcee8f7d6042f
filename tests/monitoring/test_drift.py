"""Hourly drift rates and unfamiliar examples, read back from a real turn log."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.db import make_engine
from core.turns import Route, TurnRecord
from monitoring.drift import drift_report, window_rates
from monitoring.flags import TurnFacts
from monitoring.records import RecordFactory
from monitoring.turnlog import TurnLog

NOW = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
RECORDS = RecordFactory()


def _turn(minutes_ago: float, text: str, facts: TurnFacts) -> TurnRecord:
    record = RECORDS.turn(conversation_id="c1", channel="rest", user_text=text, facts=facts,
                          metadata={"confidence": facts.confidence})
    return replace(record, ts=NOW - timedelta(minutes=minutes_ago))


def _faq(minutes_ago: float, confidence: float = 0.9, nearest: float = 0.8) -> TurnRecord:
    return _turn(minutes_ago, "how long does delivery take?",
                 TurnFacts(Route.FAQ, confidence=confidence, nearest_phrasing=nearest))


def _off_topic(minutes_ago: float, text: str = "who won the football last night") -> TurnRecord:
    return _turn(minutes_ago, text, TurnFacts(Route.DECLINE, confidence=0.1, nearest_phrasing=0.2))


@pytest.fixture
def log(tmp_path: Path) -> TurnLog:
    turn_log = TurnLog(make_engine(f"sqlite:///{tmp_path / 'turns.db'}"))
    turn_log.create()
    return turn_log


def test_hourly_rates_count_only_the_turns_the_bot_routed(log: TurnLog) -> None:
    liked = _faq(150)  # 12:00
    unsure = _faq(80, confidence=0.55, nearest=0.5)  # 13:10
    log.write([
        _off_topic(200),  # 11:10, before the window
        liked, _faq(140), _faq(130), _faq(120),
        _off_topic(85), _off_topic(84, "email me at jo@example.com about the weather"), unsure,
        _turn(70, "tell me about the cookie jar",
              TurnFacts(Route.GENERATE, confidence=0.8, grounding_score=0.2, nearest_phrasing=0.6)),
        # A shopper writing to a person and a failed turn are not the bot's routing.
        _turn(65, "hello? anyone there", TurnFacts(Route.HUMAN, confidence=0.0, nearest_phrasing=0.1)),
        _turn(64, "what's the weather", TurnFacts(Route.ERROR, confidence=0.0, error=True)),
        _off_topic(10, "how do I fix my car"),  # 14:20
    ])
    assert log.set_feedback("c1", liked.turn_id, 1)
    assert log.set_feedback("c1", unsure.turn_id, -1)

    report = drift_report(log.engine, 3, now=NOW)
    assert (report.since, report.until) == (datetime(2026, 11, 23, 12, tzinfo=UTC), NOW)
    noon, one, two = (h.to_json() for h in report.hours)
    assert [h.start.hour for h in report.hours] == [12, 13, 14]
    assert two["end"] == NOW.isoformat(), "the current hour ends now"
    assert noon == {
        "start": "2026-11-23T12:00:00+00:00", "end": "2026-11-23T13:00:00+00:00", "turns": 4,
        "decline_rate": 0.0, "unfamiliar_share": 0.0, "low_confidence_share": 0.0,
        "thumbs_down_rate": 0.0, "ungrounded_rate": None, "mean_confidence": 0.9, "rated": 1, "generated": 0,
    }
    assert one["turns"] == 4
    assert (one["decline_rate"], one["unfamiliar_share"], one["low_confidence_share"]) == (0.5, 0.5, 0.25)
    assert (one["thumbs_down_rate"], one["ungrounded_rate"]) == (1.0, 1.0)
    assert one["mean_confidence"] == pytest.approx((0.1 + 0.1 + 0.55 + 0.8) / 4, abs=1e-4)
    assert (two["turns"], two["unfamiliar_share"]) == (1, 1.0)
    assert report.total.tally.turns == 9 and report.total.tally.unfamiliar == 3

    examples = [e.to_json() for e in report.examples]
    assert [e["user_text"] for e in examples] == [
        "how do I fix my car", "email me at [EMAIL] about the weather", "who won the football last night",
    ], "newest first, redacted as logged, none from before the window"
    assert {e["route"] for e in examples} == {"decline"}
    assert examples[0]["nearest_phrasing"] == 0.2 and examples[0]["ts"] == "2026-11-23T14:20:00+00:00"

    assert window_rates(log.engine, NOW - timedelta(minutes=150), NOW - timedelta(minutes=90)) == {
        "decline_rate": 0.0, "unfamiliar_share": 0.0, "low_confidence_share": 0.0, "thumbs_down_rate": 0.0,
    }, "rates with nothing to divide by are left out"


def test_examples_are_capped_and_hours_bounded(log: TurnLog) -> None:
    log.write([_off_topic(i, f"off topic {i}") for i in range(1, 16)])
    report = drift_report(log.engine, 1, now=NOW)
    assert [e.user_text for e in report.examples] == [f"off topic {i}" for i in range(1, 11)]
    assert len(drift_report(log.engine, 168, now=NOW).hours) == 168
    for hours in (0, 169):
        with pytest.raises(ValueError):
            drift_report(log.engine, hours, now=NOW)
