"""Sliding-window rate limits, in memory for one process or in Redis for several workers.

The same interface serves the staff login limits and shoppers' order lookups, so a limit
configured with ``SHOPBOT_REDIS_URL`` holds across every worker and survives a restart.

While Redis is away a Redis window counts in this worker's memory instead (a limit per worker,
not shared, for the length of the outage) rather than failing the login or the lookup it
guards; :class:`RedisOutage` decides when Redis is tried again and says so once per interval.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from core.ratelog import RateLimitedLog

log = logging.getLogger(__name__)
T = TypeVar("T")


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


class RedisAway(Exception):
    """Redis was not called (an outage, between probes) or did not answer: use this worker's memory."""


class RedisOutage:
    """Whether a store should call Redis now, and the one log line per interval while it is away.

    Up, every call goes to Redis. After a failure the store uses its own memory and only one
    call every ``probe_s`` tries Redis again (a failing call can cost seconds of client
    retries, so the others do not wait for it); the first success ends the outage. The
    warnings go through one :class:`RateLimitedLog`, so an outage under load writes one line
    per ``log_interval_s`` with a count, and one when Redis is back.
    """

    def __init__(
        self, name: str, *, probe_s: float = 1.0, log_interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._probe_s = probe_s
        self._clock = clock
        self._log = RateLimitedLog(log, log_interval_s, clock=clock)
        self._down_since: float | None = None
        self._next_probe = 0.0
        # Calls answered from this worker's own memory since the outage began.
        self.fallbacks = 0

    @property
    def down(self) -> bool:
        """Whether the last call to Redis failed."""
        return self._down_since is not None

    def try_redis(self) -> bool:
        """Whether to call Redis now: always while it answers; while away, one caller per probe."""
        if self._down_since is None:
            return True
        now = self._clock()
        if now < self._next_probe:
            self.fallbacks += 1
            return False
        self._next_probe = now + self._probe_s
        return True

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """``fn()`` (a call to Redis) when Redis should be called now, its outcome noted;
        :class:`RedisAway` when it is not called or fails, for the store's own memory to stand in."""
        if not self.try_redis():
            raise RedisAway(self.name)
        try:
            result = await fn()
        except Exception as err:  # noqa: BLE001 - any failure of the client: this worker's memory
            self.failed(err)
            raise RedisAway(self.name) from err
        self.succeeded()
        return result

    def failed(self, err: BaseException) -> None:
        """A call to Redis failed: use this worker's memory until the next probe."""
        now = self._clock()
        if self._down_since is None:
            self._down_since = now
        self._next_probe = now + self._probe_s
        self.fallbacks += 1
        self._log.warning("down", "Redis unavailable for %s (%s: %s); using this worker's own memory",
                          self.name, type(err).__name__, err)

    def succeeded(self) -> None:
        """A call to Redis answered: the outage, if any, is over."""
        if self._down_since is None:
            return
        self._log.warning("back", "Redis back for %s after %.1f s; %d calls used this worker's memory",
                          self.name, self._clock() - self._down_since, self.fallbacks)
        self._down_since = None
        self.fallbacks = 0


class KeptBack:
    """What an outage kept in this worker only: key -> when it was written (ms), oldest first, at
    most ``size`` (the oldest forgotten first), for the store to write to Redis once it is back."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def keep(self, key: str, written: int) -> None:
        """``key`` was written at ``written`` while Redis was away."""
        self._items.pop(key, None)
        self._items[key] = written
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def written(self, key: str) -> int | None:
        """When ``key`` was last kept here, if it is waiting for Redis."""
        return self._items.get(key)

    def discard(self, key: str) -> None:
        """``key`` reached Redis: nothing to write back."""
        self._items.pop(key, None)

    async def save(self, write: Callable[[str, int], Awaitable[None]]) -> None:
        """``write`` each kept key, oldest first (raises, keeping the rest, while Redis is away)."""
        while self._items:
            key, written = next(iter(self._items.items()))
            await write(key, written)
            self._items.pop(key, None)


class RedisWindow:
    """A sliding window in a Redis sorted set per key (event times in milliseconds).

    While Redis is away, a window of this worker's own stands in (see the module's docstring).
    """

    def __init__(
        self, redis: Any, name: str, limit: int, window_s: float, *, outage: RedisOutage | None = None,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("a sliding window needs limit >= 1 and window_s > 0")
        self._redis = redis
        self._prefix = f"shopbot:limit:{name}:"
        self.limit = limit
        self.window_s = window_s
        self._retry = redis.register_script(_RETRY_AFTER)
        self._record = redis.register_script(_RECORD)
        self._local = LocalWindow(limit, window_s)
        self.outage = outage or RedisOutage(f"the {name} limit")

    async def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may act again; 0 when it may now."""
        try:
            ms = await self.outage.call(lambda: self._retry(
                keys=[self._prefix + key], args=[_now_ms(), int(self.window_s * 1000), self.limit]))
        except RedisAway:  # this worker's count decides
            return await self._local.retry_after(key)
        return max(0.0, float(ms) / 1000)

    async def record(self, key: str) -> None:
        """Count one event for ``key`` now."""
        # Counted here too, so that a count begun before an outage is not reset by it.
        await self._local.record(key)
        with contextlib.suppress(RedisAway):  # counted in this worker's window meanwhile
            await self.outage.call(lambda: self._record(
                keys=[self._prefix + key], args=[_now_ms(), int(self.window_s * 1000), uuid.uuid4().hex]))

    async def reset(self, key: str) -> None:
        """Forget every event of ``key``."""
        await self._local.reset(key)
        with contextlib.suppress(RedisAway):  # forgotten in this worker's window
            await self.outage.call(lambda: self._redis.delete(self._prefix + key))


def window(
    redis: Any | None, name: str, limit: int, window_s: float, *, outage: RedisOutage | None = None,
) -> Window:
    """A Redis window when a client is given (``outage``: shared with the worker's other Redis
    stores, so that an outage is noticed and logged once), else one of this process."""
    if redis is not None:
        return RedisWindow(redis, name, limit, window_s, outage=outage)
    return LocalWindow(limit, window_s)


def _now_ms() -> int:
    return int(time.time() * 1000)
