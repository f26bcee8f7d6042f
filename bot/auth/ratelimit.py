"""Sliding-window limits on failed logins, per client address and per username and address.

The windows are in memory or in Redis (``bot.limits``); with Redis every worker shares them.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from core.errors import TooManyRequests

if TYPE_CHECKING:
    from bot.limits import Window


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
    """Login limits an attacker cannot turn against staff.

    Only failed attempts count, per client address (password spraying) and per username *and*
    address: somebody guessing alice's password from one address locks only that address out
    of alice's account, never alice signing in from her own. A right password clears its
    username-and-address count. Refused attempts are not counted.
    """

    def __init__(self, per_ip: Window, per_account: Window) -> None:
        self.per_ip = per_ip
        self.per_account = per_account

    async def check(self, ip: str, username: str) -> None:
        """Raise ``TooManyRequests`` while either limit is spent."""
        wait = max(await self.per_ip.retry_after(ip),
                   await self.per_account.retry_after(_account_key(username, ip)))
        if wait > 0:
            raise TooManyRequests("too many failed sign-ins; try again later", math.ceil(wait))

    async def failed(self, ip: str, username: str) -> None:
        """Count one wrong password from ``ip`` for ``username``."""
        await self.per_ip.record(ip)
        await self.per_account.record(_account_key(username, ip))

    async def succeeded(self, ip: str, username: str) -> None:
        """A right password clears that username's count from that address."""
        await self.per_account.reset(_account_key(username, ip))


def _account_key(username: str, ip: str) -> str:
    # The same folding as the user store, so "Alice" and "alice " share one budget.
    return f"{username.strip().lower()[:64]}|{ip}"
