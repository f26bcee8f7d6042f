"""Short conversation memory: the slots that make follow-up questions work."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace
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
    """Where slots live; in-process by default, swappable for a shared store."""

    def get(self, conversation_id: str) -> Slots: ...

    def put(self, conversation_id: str, slots: Slots) -> None: ...


class InProcessMemory:
    """A bounded LRU map of conversation id to slots."""

    def __init__(self, max_conversations: int = 10_000) -> None:
        self._max = max_conversations
        self._data: OrderedDict[str, Slots] = OrderedDict()

    def get(self, conversation_id: str) -> Slots:
        """Slots of a conversation (empty for a new one)."""
        slots = self._data.get(conversation_id)
        if slots is None:
            return Slots()
        self._data.move_to_end(conversation_id)
        return slots

    def put(self, conversation_id: str, slots: Slots) -> None:
        """Store slots, evicting the least recently used conversation when full."""
        self._data[conversation_id] = slots
        self._data.move_to_end(conversation_id)
        while len(self._data) > self._max:
            self._data.popitem(last=False)
