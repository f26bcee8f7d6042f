"""Which conversations a person has now: kept in memory, so a turn never waits on the database.

Every worker keeps the set of pending and assigned handoffs. Its own changes update it at once,
other workers' changes arrive as live-hub events (through Redis when there are several), and a
periodic read of the queue from the database heals anything missed. If the database is away,
the last known state stands.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bot.handoff.store import ACTIVE, Handoff, HandoffStatus


class ActiveHandoffs:
    """Conversation id → its pending or assigned handoff."""

    def __init__(self) -> None:
        self._by_conversation: dict[str, Handoff] = {}
        # When each conversation last changed here, so a slower database read cannot undo it.
        self._changed: dict[str, float] = {}

    def get(self, conversation_id: str) -> Handoff | None:
        """The conversation's active handoff, as last known."""
        return self._by_conversation.get(conversation_id)

    def apply(self, handoff: Handoff) -> None:
        """Record a handoff's new state (resolved ones leave the set)."""
        self._changed[handoff.conversation_id] = time.monotonic()
        if handoff.status in ACTIVE:
            self._by_conversation[handoff.conversation_id] = handoff
        else:
            current = self._by_conversation.get(handoff.conversation_id)
            if current is None or current.id == handoff.id:
                self._by_conversation.pop(handoff.conversation_id, None)

    def replace(self, handoffs: Iterable[Handoff], read_at: float) -> None:
        """Take the database's active handoffs, read at ``read_at`` (``time.monotonic()``).

        Conversations that changed here since then keep their newer state.
        """
        fresh = {h.conversation_id: h for h in handoffs if h.status in ACTIVE}
        for conversation_id, changed in self._changed.items():
            if changed >= read_at:
                if conversation_id in self._by_conversation:
                    fresh[conversation_id] = self._by_conversation[conversation_id]
                else:
                    fresh.pop(conversation_id, None)
        self._by_conversation = fresh
        self._changed = {c: t for c, t in self._changed.items() if t >= read_at}

    def on_event(self, event: dict[str, Any]) -> None:
        """Apply a live-hub event (``handoff_created``/``handoff_updated``) from any worker."""
        data = event.get("handoff") if event.get("type") in ("handoff_created", "handoff_updated") else None
        if isinstance(data, dict):
            self.apply(handoff_from_json(data))

    def __len__(self) -> int:
        return len(self._by_conversation)


def handoff_from_json(data: dict[str, Any]) -> Handoff:
    """The inverse of ``Handoff.to_json`` (as the live events carry it)."""

    def when(key: str) -> datetime | None:
        value = data.get(key)
        return datetime.fromisoformat(value) if value else None

    created = when("created_at")
    assert created is not None
    return Handoff(
        id=data["id"],
        conversation_id=data["conversation_id"],
        reason=data["reason"],
        status=HandoffStatus(data["status"]),
        created_at=created,
        claimed_by=data.get("assignee"),
        claimed_at=when("claimed_at"),
        resolved_at=when("resolved_at"),
        last_message=data.get("last_message", ""),
        last_message_at=when("last_message_at") or created,
    )
