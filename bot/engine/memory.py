"""Short conversation memory: the slots that make follow-up questions work."""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from typing import Any, Protocol

from bot.engine.interfaces import Slots
from bot.engine.state_backup import Recovery, StateBackup
from bot.limits import KeptBack, RedisAway, RedisOutage

log = logging.getLogger(__name__)


class ConversationMemory(Protocol):
    """Where slots live: in-process by default, Redis when several workers share conversations.

    ``put`` takes the fencing token of the conversation lock held while writing: a write with
    an older token than the last one stored is refused (a slow worker whose lease lapsed).
    """

    async def get(self, conversation_id: str) -> Slots: ...

    async def put(self, conversation_id: str, slots: Slots, token: int = 0) -> None: ...


class InProcessMemory:
    """A bounded LRU map of conversation id to slots."""

    def __init__(self, max_conversations: int = 10_000) -> None:
        self._max = max_conversations
        self._data: OrderedDict[str, Slots] = OrderedDict()

    async def get(self, conversation_id: str) -> Slots:
        """Slots of a conversation (empty for a new one)."""
        slots = self._data.get(conversation_id)
        if slots is None:
            return Slots()
        self._data.move_to_end(conversation_id)
        return slots

    def peek(self, conversation_id: str) -> Slots | None:
        """The conversation's slots if held, without counting it as used."""
        return self._data.get(conversation_id)

    async def put(self, conversation_id: str, slots: Slots, token: int = 0) -> None:
        """Store slots, evicting the least recently used conversation when full.

        One process holds its conversations' locks itself, so there is nothing to fence.
        """
        self._data[conversation_id] = slots
        self._data.move_to_end(conversation_id)
        while len(self._data) > self._max:
            self._data.popitem(last=False)


# Write the slots unless a newer lock holder (a higher fencing token) already wrote. With
# ARGV[5] == '1' (a write kept back during a Redis outage), only over slots written before it
# (ARGV[4], wall-clock milliseconds): a newer write by another worker since is left alone.
_FENCED_SET = """
local fence = tonumber(redis.call('GET', KEYS[2]) or '0')
local token = tonumber(ARGV[2])
if token > 0 and token < fence then return 0 end
if ARGV[5] == '1' and tonumber(redis.call('GET', KEYS[3]) or '0') >= tonumber(ARGV[4]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[3])
if token > fence then redis.call('SET', KEYS[2], token, 'EX', ARGV[3]) end
return 1
"""


class RedisMemory:
    """Slots in Redis, so any worker can take a conversation's next message; idle ones expire.

    While Redis is away, the newest slots any worker wrote stand in: every write also goes to
    the database (``backup``, :mod:`bot.engine.state_backup`), so a follow-up reaching another
    worker than the message before it still reads what that message changed; without a backup
    (or the database away too), this worker's own last-known slots. Writes made during the
    outage are kept back and written to Redis before anything else once it answers again,
    unless another worker wrote that conversation later.
    """

    def __init__(
        self, redis: Any, ttl_s: int = 7 * 24 * 3600, cache_size: int = 10_000, *,
        outage: RedisOutage | None = None, backup: StateBackup | None = None,
    ) -> None:
        self._redis = redis
        self._ttl = ttl_s
        self._set = redis.register_script(_FENCED_SET)
        self._cache = InProcessMemory(cache_size)
        # Conversations written only here during an outage -> when (wall-clock ms), oldest first.
        self._unsaved = KeptBack(cache_size)
        self.outage = outage or RedisOutage("conversation slots")
        self._recovery = Recovery(backup)
        self.refused = 0

    @staticmethod
    def _key(conversation_id: str) -> str:
        return f"shopbot:slots:{conversation_id}"

    @property
    def unsaved(self) -> int:
        """Conversations whose latest slots are in this worker only, waiting for Redis."""
        return len(self._unsaved)

    async def get(self, conversation_id: str) -> Slots:
        """Slots of a conversation (empty for a new or expired one)."""
        try:
            raw = await self.outage.call(lambda: self._read(conversation_id))
        except RedisAway:  # the newest any worker wrote, else what this worker last saw
            self._recovery.away(_now_ms())
            kept = await self._recovery.kept(conversation_id, self._unsaved.written(conversation_id))
            return Slots.from_json(json.loads(kept)) if kept is not None else \
                await self._cache.get(conversation_id)
        return Slots() if raw is None else Slots.from_json(json.loads(raw))

    async def _read(self, conversation_id: str) -> Any:
        await self._save_kept_back()
        return await self._recovery.read(self._redis, self._key(conversation_id), conversation_id)

    async def put(self, conversation_id: str, slots: Slots, token: int = 0) -> None:
        """Store slots with a fresh expiry, fenced by the conversation lock's token."""
        await self._cache.put(conversation_id, slots)
        written = _now_ms()
        if self._recovery.backup is not None:
            await self._recovery.backup.save(conversation_id, json.dumps(slots.to_json()), written)
        try:
            stored = await self.outage.call(lambda: self._save(conversation_id, slots, token, written))
        except RedisAway:  # the answer matters more than the memory: kept here until Redis is back
            self._recovery.away(written)
            self._unsaved.keep(conversation_id, written)
            return
        self._unsaved.discard(conversation_id)
        if not stored:
            self.refused += 1
            log.warning("stale slot write refused for %s (token %d)", conversation_id, token)

    async def _save(self, conversation_id: str, slots: Slots, token: int, written: int) -> bool:
        await self._save_kept_back()
        return await self._write(conversation_id, json.dumps(slots.to_json()), token, written,
                                 kept_back=False)

    async def _save_kept_back(self) -> None:
        """Write what the outage changed: every worker's writes from the database copy, then what
        this worker kept (raises while Redis is still away); a newer write in Redis stays."""
        await self._recovery.restore(lambda conversation_id, body, at:
                                     self._write(conversation_id, body, 0, at, kept_back=True))

        async def write(conversation_id: str, written: int) -> None:
            slots = self._cache.peek(conversation_id)
            if slots is not None:
                await self._write(conversation_id, json.dumps(slots.to_json()), 0, written, kept_back=True)

        await self._unsaved.save(write)

    async def _write(self, conversation_id: str, body: str, token: int, written: int, *,
                     kept_back: bool) -> bool:
        key = self._key(conversation_id)
        stored = await self._set(keys=[key, f"{key}:fence", f"{key}:at"],
                                 args=[body, token, self._ttl, written, "1" if kept_back else "0"])
        return bool(int(stored))


def _now_ms() -> int:
    return int(time.time() * 1000)
