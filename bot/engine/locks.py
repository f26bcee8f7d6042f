"""One conversation, one turn at a time, in arrival order: per-conversation locks.

In one process an ``asyncio.Lock`` per conversation does it (its waiters are served first in,
first out). With several workers (``SHOPBOT_REDIS_URL``) a ticket lock in Redis does it across
processes: every arrival draws the next ticket and waits until it is served, like a bakery
queue, so arrival order holds across workers too.

Crashed workers cannot hold a conversation: the holder's claim is a lease that expires unless
renewed, and a ticket whose lease has run out is skipped. Every grant carries a fencing token
(the ticket number, rising per conversation) so that a slow holder whose lease lapsed cannot
overwrite the state a newer holder wrote (see ``RedisMemory.put``).

Within a worker the in-process lock is always taken first, so the turns of a conversation that
reach one worker stay in order whatever Redis does. While Redis is away only that lock is
taken (turns of one conversation on two workers may then overlap) and grants carry no fencing
token; Redis is tried again as ``bot.limits.RedisOutage`` decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any, Protocol

from bot.limits import RedisAway, RedisOutage


class ConversationLocks(Protocol):
    """Serialises the turns of each conversation; yields the grant's fencing token."""

    def hold(self, conversation_id: str) -> contextlib.AbstractAsyncContextManager[int]: ...


class InProcessLocks:
    """FIFO locks per conversation in this process; a lock lives while someone uses it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        # One rising counter for all conversations: a grant's token is never reused.
        self._grants = itertools.count(1)

    @contextlib.asynccontextmanager
    async def hold(self, conversation_id: str) -> AsyncIterator[int]:
        """Wait for the conversation's earlier turns, then hold it."""
        lock, users = self._locks.get(conversation_id, (asyncio.Lock(), 0))
        self._locks[conversation_id] = (lock, users + 1)
        try:
            async with lock:
                yield next(self._grants)
        finally:
            lock, users = self._locks[conversation_id]
            if users == 1:
                del self._locks[conversation_id]
            else:
                self._locks[conversation_id] = (lock, users - 1)


# Draw a ticket; the first ticket of a fresh queue is served at once.
_TAKE = """
local ticket = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], ticket, 'EX', ARGV[1])
  redis.call('SET', KEYS[3], ticket, 'PX', ARGV[2])
end
return ticket
"""

# 1: granted (lease taken); 0: wait; -1: this ticket was skipped (its lease ran out).
_TRY = """
local ticket = tonumber(ARGV[1])
local serving = tonumber(redis.call('GET', KEYS[2]))
if serving == nil then
  redis.call('SET', KEYS[2], ticket, 'EX', ARGV[3])
  serving = ticket
end
if serving == ticket then
  redis.call('SET', KEYS[3], ticket, 'PX', ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  return 1
end
if serving > ticket then return -1 end
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('SET', KEYS[2], serving + 1, 'EX', ARGV[3])
  redis.call('SET', KEYS[3], serving + 1, 'PX', ARGV[2])
end
return 0
"""

# Hand over to the next ticket, which gets a lease to come and take it.
_RELEASE = """
local ticket = tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[2])) == ticket then
  redis.call('SET', KEYS[2], ticket + 1, 'EX', ARGV[3])
  redis.call('SET', KEYS[3], ticket + 1, 'PX', ARGV[2])
end
return 1
"""

# Keep holding: renew the lease only while it is still ours.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class RedisLocks:
    """Ticket locks in Redis, shared by every worker, with leases and fencing tokens."""

    def __init__(
        self,
        redis: Any,
        *,
        lease_ms: int = 15_000,
        handover_ms: int = 3_000,
        ttl_s: int = 24 * 3600,
        fallback: ConversationLocks | None = None,
        outage: RedisOutage | None = None,
    ) -> None:
        self._redis = redis
        self.lease_ms = lease_ms
        # How long a ticket that was just handed the lock may take to notice before it is skipped.
        self.handover_ms = handover_ms
        self.ttl_s = ttl_s
        # Always taken first: order within this worker, with or without Redis.
        self._fallback = fallback or InProcessLocks()
        self.outage = outage or RedisOutage("conversation locks")
        self._take = redis.register_script(_TAKE)
        self._try = redis.register_script(_TRY)
        self._release = redis.register_script(_RELEASE)
        self._renew = redis.register_script(_RENEW)

    @staticmethod
    def _keys(conversation_id: str) -> list[str]:
        base = f"shopbot:lock:{conversation_id}"
        return [f"{base}:next", f"{base}:serving", f"{base}:lease"]

    @contextlib.asynccontextmanager
    async def hold(self, conversation_id: str) -> AsyncIterator[int]:
        """Wait for the conversation's turn across every worker, then hold it (lease renewed)."""
        keys = self._keys(conversation_id)
        async with self._fallback.hold(conversation_id):
            ticket = 0  # no fencing token: writes are not fenced while Redis is away
            with contextlib.suppress(RedisAway):  # this worker's lock alone meanwhile
                ticket = await self.outage.call(lambda: self._acquire(keys))
            if not ticket:
                yield 0
                return
            renewer = asyncio.create_task(self._keep(keys[2], ticket))
            try:
                yield ticket
            finally:
                renewer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewer
                with contextlib.suppress(Exception):
                    await self._release(keys=keys, args=[ticket, self.handover_ms, self.ttl_s])

    async def _acquire(self, keys: list[str]) -> int:
        while True:
            ticket = int(await self._take(keys=keys, args=[self.ttl_s, self.handover_ms]))
            delay = 0.002
            while True:
                state = int(await self._try(keys=keys, args=[ticket, self.lease_ms, self.ttl_s]))
                if state == 1:
                    return ticket
                if state == -1:
                    break  # skipped as if gone: draw a new ticket at the back of the queue
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, 0.02)

    async def _keep(self, lease_key: str, ticket: int) -> None:
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            with contextlib.suppress(Exception):
                await self._renew(keys=[lease_key], args=[ticket, self.lease_ms])
