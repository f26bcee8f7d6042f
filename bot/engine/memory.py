"""Short conversation memory: the slots that make follow-up questions work."""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from typing import Any, Protocol

from bot.engine.interfaces import Slots

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

    async def put(self, conversation_id: str, slots: Slots, token: int = 0) -> None:
        """Store slots, evicting the least recently used conversation when full.

        One process holds its conversations' locks itself, so there is nothing to fence.
        """
        self._data[conversation_id] = slots
        self._data.move_to_end(conversation_id)
        while len(self._data) > self._max:
            self._data.popitem(last=False)


# Write the slots unless a newer lock holder (a higher fencing token) already wrote.
_FENCED_SET = """
local fence = tonumber(redis.call('GET', KEYS[2]) or '0')
local token = tonumber(ARGV[2])
if token > 0 and token < fence then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
if token > fence then redis.call('SET', KEYS[2], token, 'EX', ARGV[3]) end
return 1
"""


class RedisMemory:
    """Slots in Redis, so any worker can take a conversation's next message; idle ones expire.

    While Redis is away, this worker's own last-known slots stand in (a turn is still answered).
    """

    def __init__(self, redis: Any, ttl_s: int = 7 * 24 * 3600, cache_size: int = 10_000) -> None:
        self._redis = redis
        self._ttl = ttl_s
        self._set = redis.register_script(_FENCED_SET)
        self._cache = InProcessMemory(cache_size)
        self.refused = 0

    @staticmethod
    def _key(conversation_id: str) -> str:
        return f"shopbot:slots:{conversation_id}"

    async def get(self, conversation_id: str) -> Slots:
        """Slots of a conversation (empty for a new or expired one)."""
        try:
            raw = await self._redis.get(self._key(conversation_id))
        except Exception as err:  # noqa: BLE001 - degrade to what this worker last saw
            log.warning("slots unavailable from Redis (%s); using this worker's copy", err)
            return await self._cache.get(conversation_id)
        if raw is None:
            return Slots()
        return Slots.from_json(json.loads(raw))

    async def put(self, conversation_id: str, slots: Slots, token: int = 0) -> None:
        """Store slots with a fresh expiry, fenced by the conversation lock's token."""
        await self._cache.put(conversation_id, slots)
        key = self._key(conversation_id)
        try:
            stored = await self._set(keys=[key, f"{key}:fence"],
                                     args=[json.dumps(slots.to_json()), token, self._ttl])
        except Exception as err:  # noqa: BLE001 - the answer matters more than the memory
            log.warning("slots not saved to Redis (%s)", err)
            return
        if not int(stored):
            self.refused += 1
            log.warning("stale slot write refused for %s (token %d)", conversation_id, token)

