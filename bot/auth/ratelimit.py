"""Sliding-window limits on login attempts, per client address and per username.

In memory, so each worker process counts on its own; with N workers an attacker gets at
most N times the configured attempts.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from core.errors import TooManyRequests


class SlidingWindow:
    """At most ``limit`` events per key within any ``window_s`` seconds.

    Keeps the event times of the ``max_keys`` most recently used keys; the oldest key is
    forgotten first, so a flood of made-up usernames cannot grow memory without bound.
    """

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("a sliding window needs limit >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self.clock = clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may act again; 0 when it may now."""
        events = self._live(key)
        if events is None or len(events) < self.limit:
            return 0.0
        return max(events[0] + self.window_s - self.clock(), 0.0)

    def record(self, key: str) -> None:
        """Count one event for ``key`` now."""
        events = self._live(key)
        if events is None:
            events = self._events[key] = deque()
        events.append(self.clock())
        self._events.move_to_end(key)
        while len(self._events) > self.max_keys:
            self._events.popitem(last=False)

    def reset(self, key: str) -> None:
        """Forget every event of ``key``."""
        self._events.pop(key, None)

    def _live(self, key: str) -> deque[float] | None:
        events = self._events.get(key)
        if events is None:
            return None
        cutoff = self.clock() - self.window_s
        while events and events[0] <= cutoff:
            events.popleft()
        if not events:
            del self._events[key]
            return None
        return events


class LoginLimiter:
    """Both login limits together: attempts per client address and per username."""

    def __init__(self, per_ip: SlidingWindow, per_user: SlidingWindow) -> None:
        self.per_ip = per_ip
        self.per_user = per_user

    def acquire(self, ip: str, username: str) -> None:
        """Count one attempt, or raise ``TooManyRequests`` (refused attempts are not counted)."""
        user = _user_key(username)
        wait = max(self.per_ip.retry_after(ip), self.per_user.retry_after(user))
        if wait > 0:
            raise TooManyRequests("too many login attempts; try again later", math.ceil(wait))
        self.per_ip.record(ip)
        self.per_user.record(user)

    def succeeded(self, username: str) -> None:
        """A correct password clears that username's count (the address keeps its own)."""
        self.per_user.reset(_user_key(username))


def _user_key(username: str) -> str:
    # The same folding as the user store, so "Alice" and "alice " share one budget.
    return username.strip().lower()[:64]
