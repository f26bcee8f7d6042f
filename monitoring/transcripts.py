"""The one read model of a conversation: the widget's history, the staff console's transcript
and the auditors' turn context all read turns through :class:`Transcripts`.

Blocking (SQL): call it from a worker thread, after flushing the turn-log writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.engine import Engine

from core.turns import TurnRecord
from monitoring.turnlog import conversations

Sender = Literal["bot", "staff", "shopper"]


@dataclass(frozen=True)
class TranscriptTurn:
    """One logged turn with who spoke and why the bot said what it said."""

    record: TurnRecord

    @property
    def sender(self) -> Sender:
        """``bot`` for the bot's turns; ``staff`` or ``shopper`` while a person has the chat."""
        sender = self.record.metadata.get("sender")
        if sender == "staff" or self.record.channel == "staff":
            return "staff"
        return "shopper" if sender == "shopper" else "bot"

    @property
    def feedback(self) -> int | None:
        """+1 / -1 when the shopper rated the answer."""
        value = self.record.metadata.get("feedback")
        return value if isinstance(value, int) else None

    def to_console(self) -> dict[str, Any]:
        """The staff console's shape: the turn-log JSON plus sender, the bot's reasons and its reading."""
        meta = self.record.metadata
        return {
            **self.record.to_json(),
            "sender": meta.get("sender", "bot"),
            "staff": meta.get("staff"),
            "label": meta.get("label"),
            "confidence": meta.get("confidence"),
            "evidence": meta.get("evidence", []),
            "handoff": meta.get("handoff"),
            "feedback": self.feedback,
            # ISO 639-1 code of the shopper's message (bot/engine/language.py); None before it was told.
            "language": meta.get("language"),
            # The kind of follow-up the message was read as (``resolved`` and ``refers_to`` come
            # with the turn-log JSON); None when it stood alone.
            "context_act": meta.get("context_act"),
        }


@dataclass(frozen=True)
class Around:
    """A turn and up to ``context`` turns of its conversation on each side."""

    turn: TranscriptTurn
    before: tuple[TranscriptTurn, ...]
    after: tuple[TranscriptTurn, ...]


class Transcripts:
    """Reads conversations from the turn log, oldest turn first."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def conversation(self, conversation_id: str, last: int | None = None) -> list[TranscriptTurn]:
        """A conversation's turns; only the ``last`` ones when given."""
        return [TranscriptTurn(r) for r in conversations.conversation(self.engine, conversation_id, last)]

    def around(self, turn_id: str, context: int) -> Around | None:
        """A turn with its neighbours in the conversation; None when there is no such turn."""
        found = conversations.around(self.engine, turn_id, context)
        if found is None:
            return None
        return Around(TranscriptTurn(found.turn), tuple(TranscriptTurn(r) for r in found.before),
                      tuple(TranscriptTurn(r) for r in found.after))
