"""The roles a Rasa project's turns lean on beyond the tracker: entities from typed text, reminders.

Each is a Protocol so the responder is built with whatever implements it (a trained extractor,
a reminder book in the database) and tests can pass their own at the boundary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class EntityExtractor(Protocol):
    """Finds a project's entities in typed text, as Rasa's extractors report them.

    ``run`` returns Rasa's entity dicts: ``entity``, ``value`` (after synonyms), ``start``,
    ``end``, ``confidence_entity``, ``extractor`` and, when annotated, ``role`` / ``group``.
    It is CPU work: callers run it off the event loop.
    """

    def warm_up(self) -> None: ...

    def run(self, text: str) -> tuple[dict[str, Any], ...]: ...


class ReminderBook(Protocol):
    """Where a conversation's reminders (Rasa's ``reminder`` / ``cancel_reminder`` events) live.

    ``schedule`` takes the event as an action returned it (``intent``, ``entities``,
    ``date_time``, ``name``, ``kill_on_user_msg``); ``cancel`` takes a ``cancel_reminder``
    event (by ``name``, or by ``intent`` and ``entities``, or all of the conversation's);
    ``user_spoke`` drops the conversation's reminders that a user message kills.
    """

    async def schedule(self, conversation_id: str, event: Mapping[str, Any]) -> None: ...

    async def cancel(self, conversation_id: str, event: Mapping[str, Any]) -> None: ...

    async def user_spoke(self, conversation_id: str) -> None: ...


__all__ = ["EntityExtractor", "ReminderBook"]
