"""Sliding-window rate limits, in memory for one process or in Redis for several workers.

The same interface serves the staff login limits and shoppers' order lookups, so a limit
configured with ``SHOPBOT_REDIS_URL`` holds across every worker and survives a restart.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any, Protocol


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


class Window(Protocol):
    """At most ``limit`` events per key within any ``window_s`` seconds."""

    limit: int
    window_s: float

    async def retry_after(self, key: str) -> float: ...

    async def record(self, key: str) -> None: ...

    async def reset(self, key: str) -> None: ...


class LocalWindow:
    """A :class:`SlidingWindow` of this process."""

    def __init__(self, limit: int, window_s: float) -> None:
        self._window = SlidingWindow(limit, window_s)
        self.limit = limit
        self.window_s = window_s

    async def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may act again; 0 when it may now."""
        return self._window.retry_after(key)

    async def record(self, key: str) -> None:
        """Count one event for ``key`` now."""
        self._window.record(key)

    async def reset(self, key: str) -> None:
        """Forget every event of ``key``."""
        self._window.reset(key)


_RETRY_AFTER = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then return 0 end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tonumber(oldest[2]) + window - now
"""

_RECORD = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


class RedisWindow:
    """A sliding window in a Redis sorted set per key (event times in milliseconds)."""

    def __init__(self, redis: Any, name: str, limit: int, window_s: float) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("a sliding window needs limit >= 1 and window_s > 0")
        self._redis = redis
        self._prefix = f"shopbot:limit:{name}:"
        self.limit = limit
        self.window_s = window_s
        self._retry = redis.register_script(_RETRY_AFTER)
        self._record = redis.register_script(_RECORD)

    async def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may act again; 0 when it may now."""
        ms = await self._retry(keys=[self._prefix + key],
                               args=[_now_ms(), int(self.window_s * 1000), self.limit])
        return max(0.0, float(ms) / 1000)

    async def record(self, key: str) -> None:
        """Count one event for ``key`` now."""
        await self._record(keys=[self._prefix + key],
                           args=[_now_ms(), int(self.window_s * 1000), uuid.uuid4().hex])

    async def reset(self, key: str) -> None:
        """Forget every event of ``key``."""
        await self._redis.delete(self._prefix + key)


def window(redis: Any | None, name: str, limit: int, window_s: float) -> Window:
    """A Redis window when a client is given, else one of this process."""
    if redis is not None:
        return RedisWindow(redis, name, limit, window_s)
    return LocalWindow(limit, window_s)


def _now_ms() -> int:
    return int(time.time() * 1000)
