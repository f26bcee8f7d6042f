"""Sliding-window login limits per address and per username."""

from __future__ import annotations

import pytest

from bot.auth.ratelimit import LoginLimiter, SlidingWindow
from bot.middleware import http_status
from core.errors import TooManyRequests


class Clock:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_window_slides() -> None:
    clock = Clock()
    w = SlidingWindow(3, 60, clock=clock)
    for step in (0, 10, 20):
        clock.now += step and 10
        assert w.retry_after("k") == 0
        w.record("k")
    assert w.retry_after("k") == pytest.approx(40), "the first event leaves the window at t=60"
    clock.now += 40
    assert w.retry_after("k") == 0, "one slot freed, not the whole window"
    w.record("k")
    assert w.retry_after("k") == pytest.approx(10)
    assert w.retry_after("other") == 0


def test_reset_and_bounded_keys() -> None:
    clock = Clock()
    w = SlidingWindow(1, 60, max_keys=2, clock=clock)
    w.record("a")
    w.reset("a")
    assert w.retry_after("a") == 0
    for key in ("a", "b", "c"):
        w.record(key)
    assert w.retry_after("a") == 0, "the oldest key was forgotten"
    assert w.retry_after("b") > 0 and w.retry_after("c") > 0


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        SlidingWindow(0, 60)
    with pytest.raises(ValueError):
        SlidingWindow(5, 0)


def test_login_limiter_counts_address_and_username() -> None:
    clock = Clock()
    limiter = LoginLimiter(SlidingWindow(2, 100, clock=clock), SlidingWindow(2, 50, clock=clock))
    limiter.acquire("1.1.1.1", "alice")
    limiter.acquire("2.2.2.2", " Alice ")
    with pytest.raises(TooManyRequests) as caught:
        limiter.acquire("3.3.3.3", "ALICE")
    assert http_status(caught.value) == 429 and caught.value.retry_after == 50
    limiter.acquire("1.1.1.1", "bob")
    clock.now += 10.5
    with pytest.raises(TooManyRequests) as caught:
        limiter.acquire("1.1.1.1", "carol")
    assert caught.value.retry_after == 90, "rounded up: 89.5 s until the address's first attempt expires"
    clock.now += 40
    limiter.acquire("9.9.9.9", "alice")


def test_refused_attempts_do_not_extend_the_block() -> None:
    clock = Clock()
    limiter = LoginLimiter(SlidingWindow(100, 60, clock=clock), SlidingWindow(1, 60, clock=clock))
    limiter.acquire("ip", "alice")
    for _ in range(5):
        clock.now += 10
        with pytest.raises(TooManyRequests):
            limiter.acquire("ip", "alice")
    clock.now += 10
    limiter.acquire("ip", "alice")


def test_success_clears_the_username_only() -> None:
    clock = Clock()
    limiter = LoginLimiter(SlidingWindow(2, 60, clock=clock), SlidingWindow(1, 60, clock=clock))
    limiter.acquire("ip", "alice")
    limiter.succeeded("ALICE")
    limiter.acquire("ip", "alice")
    with pytest.raises(TooManyRequests):
        limiter.acquire("ip", "bob")
