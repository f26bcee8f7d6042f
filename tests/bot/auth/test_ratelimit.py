"""Sliding-window login limits per address and per username."""

from __future__ import annotations

import pytest

from bot.auth.ratelimit import LoginLimiter
from bot.limits import LocalWindow, SlidingWindow
from bot.web.errors import http_status
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


class ClockedWindow(LocalWindow):
    """A process-local window on the test's clock."""

    def __init__(self, limit: int, window_s: float, clock: Clock) -> None:
        super().__init__(limit, window_s)
        self._window = SlidingWindow(limit, window_s, clock=clock)


async def test_only_failures_count_per_address_and_per_username_and_address() -> None:
    clock = Clock()
    limiter = LoginLimiter(ClockedWindow(3, 100, clock), ClockedWindow(2, 50, clock))
    await limiter.check("1.1.1.1", "alice")
    await limiter.failed("1.1.1.1", "alice")
    await limiter.failed("1.1.1.1", " Alice ")
    with pytest.raises(TooManyRequests) as caught:
        await limiter.check("1.1.1.1", "ALICE")
    assert http_status(caught.value) == 429 and caught.value.retry_after == 50
    # The guesser's address is locked out of alice's account; alice elsewhere is not.
    await limiter.check("2.2.2.2", "alice")
    await limiter.check("1.1.1.1", "bob")
    await limiter.failed("1.1.1.1", "bob")
    clock.now += 10.5
    with pytest.raises(TooManyRequests) as caught:
        await limiter.check("1.1.1.1", "carol")
    assert caught.value.retry_after == 90, "rounded up: 89.5 s until the address's first failure expires"
    clock.now += 90
    await limiter.check("1.1.1.1", "alice")


async def test_a_right_password_clears_that_username_from_that_address_only() -> None:
    clock = Clock()
    limiter = LoginLimiter(ClockedWindow(100, 60, clock), ClockedWindow(1, 60, clock))
    await limiter.failed("ip", "alice")
    await limiter.failed("other", "alice")
    await limiter.succeeded("ip", "ALICE")
    await limiter.check("ip", "alice")
    with pytest.raises(TooManyRequests):
        await limiter.check("other", "alice")
