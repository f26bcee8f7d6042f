"""Limits on failed logins: a ceiling per client address, and back-off per username and address.

The counts are in memory or in Redis (``bot.limits`` for the address's sliding window, this
module for the back-off); with Redis every worker shares them.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from bot.limits import RedisAway, RedisOutage, Window
from core.errors import TooManyRequests

# A username and address quiet this long (no failure) starts again with its free attempts.
FORGET_S = 24 * 3600.0


class LoginLimiter:
    """Login limits an attacker cannot turn against staff.

    Only failed attempts count, per client address (password spraying; a ceiling high enough for
    a shop's office behind one NAT address) and per username *and* address (guessing one
    password; a back-off, ``Backoff``): somebody guessing alice's password from one address
    slows down only that address on alice's account, never alice signing in from her own, nor
    her colleagues behind the same address. A right password clears its username-and-address
    count. Refused attempts are not counted.
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


def backoff_wait(failures: int, free: int, first_wait_s: float, max_wait_s: float) -> float:
    """Seconds to wait after the last of ``failures``: none for the first ``free``, then
    ``first_wait_s`` doubling with each further failure, at most ``max_wait_s``."""
    if failures < free:
        return 0.0
    # The exponent is capped so a long attack cannot overflow the float.
    return min(first_wait_s * 2.0 ** min(failures - free, 62), max_wait_s)


class Backoff:
    """Exponential back-off per key, in this process (a ``Window``: ``limit`` free failures,
    ``window_s`` the longest wait).

    Keeps the ``max_keys`` most recently failed keys; the oldest is forgotten first, so a flood of
    made-up usernames cannot grow memory without bound.
    """

    def __init__(
        self,
        free: int,
        first_wait_s: float,
        max_wait_s: float,
        *,
        forget_s: float = FORGET_S,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check(free, first_wait_s, max_wait_s)
        self.limit = free
        self.window_s = max_wait_s
        self.first_wait_s = min(first_wait_s, max_wait_s)
        self.forget_s = max(forget_s, max_wait_s)
        self.max_keys = max_keys
        self.clock = clock
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()

    async def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 when it may now."""
        now = self.clock()
        count, last = self._live(key, now)
        return max(last + backoff_wait(count, self.limit, self.first_wait_s, self.window_s) - now, 0.0)

    async def record(self, key: str) -> None:
        """Count one failure of ``key`` now."""
        now = self.clock()
        count, _ = self._live(key, now)
        self._failures[key] = (count + 1, now)
        self._failures.move_to_end(key)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    async def reset(self, key: str) -> None:
        """Forget every failure of ``key``."""
        self._failures.pop(key, None)

    def _live(self, key: str, now: float) -> tuple[int, float]:
        count, last = self._failures.get(key, (0, now))
        if now - last >= self.forget_s:
            del self._failures[key]
            return 0, now
        return count, last


_RECORD = """
redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('HSET', KEYS[1], 'last', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


class RedisBackoff:
    """``Backoff`` in a Redis hash per key (failures and the last one's time), shared by workers.

    While Redis is away, a ``Backoff`` of this worker's own stands in, as for ``bot.limits``'
    Redis windows (``RedisOutage`` decides when Redis is tried again).
    """

    def __init__(
        self, redis: Any, name: str, free: int, first_wait_s: float, max_wait_s: float,
        *, forget_s: float = FORGET_S, outage: RedisOutage | None = None,
    ) -> None:
        _check(free, first_wait_s, max_wait_s)
        self._redis = redis
        self._prefix = f"shopbot:backoff:{name}:"
        self.limit = free
        self.window_s = max_wait_s
        self.first_wait_s = min(first_wait_s, max_wait_s)
        self.forget_s = max(forget_s, max_wait_s)
        self._record = redis.register_script(_RECORD)
        self._local = Backoff(free, first_wait_s, max_wait_s, forget_s=forget_s, clock=time.time)
        self.outage = outage or RedisOutage(f"the {name} back-off")

    async def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 when it may now."""
        try:
            count, last_ms = await self.outage.call(
                lambda: self._redis.hmget(self._prefix + key, ["n", "last"]))
        except RedisAway:  # this worker's count decides
            return await self._local.retry_after(key)
        if count is None or last_ms is None:
            return 0.0
        wait = backoff_wait(int(count), self.limit, self.first_wait_s, self.window_s)
        return max(int(last_ms) / 1000 + wait - time.time(), 0.0)

    async def record(self, key: str) -> None:
        """Count one failure of ``key`` now."""
        # Counted here too, so that a count begun before an outage is not reset by it.
        await self._local.record(key)
        with contextlib.suppress(RedisAway):  # counted in this worker's back-off meanwhile
            await self.outage.call(lambda: self._record(
                keys=[self._prefix + key], args=[int(time.time() * 1000), int(self.forget_s * 1000)]))

    async def reset(self, key: str) -> None:
        """Forget every failure of ``key``."""
        await self._local.reset(key)
        with contextlib.suppress(RedisAway):  # forgotten in this worker's back-off
            await self.outage.call(lambda: self._redis.delete(self._prefix + key))


def backoff(
    redis: Any | None, name: str, free: int, first_wait_s: float, max_wait_s: float,
    *, outage: RedisOutage | None = None,
) -> Window:
    """A Redis back-off when a client is given (``outage`` shared as ``bot.limits.window``'s),
    else one of this process."""
    if redis is not None:
        return RedisBackoff(redis, name, free, first_wait_s, max_wait_s, outage=outage)
    return Backoff(free, first_wait_s, max_wait_s)


def _check(free: int, first_wait_s: float, max_wait_s: float) -> None:
    if free < 1 or first_wait_s <= 0 or max_wait_s <= 0:
        raise ValueError("a back-off needs free >= 1 and waits > 0")
