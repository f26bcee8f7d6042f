"""One line per cause per interval, with the count of what was held back."""

import logging

import pytest

from core.ratelog import RateLimitedLog


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_cause_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    log = RateLimitedLog(logging.getLogger("t.ratelog"), 10.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="t.ratelog"):
        written = [log.warning("redis", "redis down: %s", "refused") for _ in range(1000)]
        assert written.count(True) == 1
        assert log.warning("db", "db down")  # another cause has its own budget
        clock.now = 10.5
        assert log.warning("redis", "redis down: %s", "refused")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "redis down: refused",
        "db down",
        "redis down: refused (and 999 more like it in the last 10 s)",
    ]


def test_causes_are_bounded() -> None:
    log = RateLimitedLog(logging.getLogger("t.ratelog2"), 60.0, clock=Clock())
    for i in range(5000):
        log.warning(f"cause-{i}", "x")
    assert len(log._state) <= 1024
