"""Short conversation memory: the slots that make follow-up questions work."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Protocol


@dataclass(frozen=True)
class Slots:
    """What the bot remembers about one conversation."""

    last_product: str | None = None
    order_number: str | None = None
    handoff: bool = False
    unanswered: int = 0
    turns: int = 0
    shown_products: tuple[str, ...] = field(default=())

    def updated(self, **changes: object) -> Slots:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def as_rasa(self) -> dict[str, object]:
        """Slot values as a rasa-sdk tracker sees them."""
        return {"last_product": self.last_product, "order_number": self.order_number}


class ConversationMemory(Protocol):
    """Where slots live: in-process by default, Redis when several workers share conversations."""

    async def get(self, conversation_id: str) -> Slots: ...

    async def put(self, conversation_id: str, slots: Slots) -> None: ...


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

    async def put(self, conversation_id: str, slots: Slots) -> None:
        """Store slots, evicting the least recently used conversation when full."""
        self._data[conversation_id] = slots
        self._data.move_to_end(conversation_id)
        while len(self._data) > self._max:
            self._data.popitem(last=False)


class RedisMemory:
    """Slots in Redis, so any worker can take a conversation's next message; idle ones expire."""

    def __init__(self, url: str, ttl_s: int = 7 * 24 * 3600) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(url)
        self._ttl = ttl_s

    @staticmethod
    def _key(conversation_id: str) -> str:
        return f"shopbot:slots:{conversation_id}"

    async def get(self, conversation_id: str) -> Slots:
        """Slots of a conversation (empty for a new or expired one)."""
        raw = await self._redis.get(self._key(conversation_id))
        if raw is None:
            return Slots()
        data = json.loads(raw)
        data["shown_products"] = tuple(data.get("shown_products") or ())
        return Slots(**{k: v for k, v in data.items() if k in _FIELDS})

    async def put(self, conversation_id: str, slots: Slots) -> None:
        """Store slots with a fresh expiry."""
        await self._redis.set(self._key(conversation_id), json.dumps(asdict(slots)), ex=self._ttl)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()


_FIELDS = frozenset(f.name for f in fields(Slots))
