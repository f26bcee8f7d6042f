"""Bot messages in Rasa's REST channel shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Button:
    """A quick-reply button; ``payload`` is sent back as the next message."""

    title: str
    payload: str


@dataclass(frozen=True)
class BotMessage:
    """One message from the bot: text, buttons and/or a custom payload (product cards)."""

    text: str | None = None
    buttons: tuple[Button, ...] = ()
    custom: dict[str, Any] | None = field(default=None)

    def to_rest(self, recipient_id: str) -> dict[str, Any]:
        """Rasa REST channel form: ``{"recipient_id", "text"?, "buttons"?, "custom"?}``."""
        out: dict[str, Any] = {"recipient_id": recipient_id}
        if self.text is not None:
            out["text"] = self.text
        if self.buttons:
            out["buttons"] = [{"title": b.title, "payload": b.payload} for b in self.buttons]
        if self.custom is not None:
            out["custom"] = self.custom
        return out

    @classmethod
    def from_rasa(cls, data: dict[str, Any]) -> BotMessage:
        """Build from a rasa-sdk ``responses`` item (dispatcher.utter_message output)."""
        buttons = tuple(
            Button(title=str(b.get("title", "")), payload=str(b.get("payload", "")))
            for b in data.get("buttons") or []
        )
        return cls(text=data.get("text"), buttons=buttons, custom=data.get("custom") or None)
