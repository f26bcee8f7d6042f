"""A Rasa project's responses turned into bot messages, the way Rasa's REST channel sends them.

A variant is chosen at random among those whose slot conditions hold (else among those without
a condition); ``{slot}`` placeholders are filled from the slots. One response can make several
messages, as in Rasa's ``CollectingOutputChannel``: text (split at blank lines) or text with
buttons, then ``custom``, then ``image``, then ``attachment``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.messages import BotMessage, Button

_PLACEHOLDER = re.compile(r"{([^\n{}]+?)}")
_FILLED = ("text", "image", "custom", "buttons", "attachment", "quick_replies", "elements")


@dataclass(frozen=True)
class MediaMessage(BotMessage):
    """An image or attachment: Rasa's REST key for it; socket.io shows ``custom`` (an image card)."""

    key: str = "image"
    value: Any = None

    def to_rest(self, recipient_id: str) -> dict[str, Any]:
        """``{"recipient_id", "image": url}`` or ``{"recipient_id", "attachment": ...}``."""
        return {"recipient_id": recipient_id, self.key: self.value}


def choose_variant(
    variants: Sequence[Mapping[str, Any]], slots: Mapping[str, Any], rng: random.Random
) -> Mapping[str, Any] | None:
    """One variant at random: among those whose conditions all hold, else those without any.

    Shopbot does not tell channels apart: variants for a named channel are used only when there
    is no variant without one.
    """
    conditional = [v for v in variants if v.get("condition") and _holds(v["condition"], slots)]
    pool = conditional or [v for v in variants if not v.get("condition")]
    general = [v for v in pool if v.get("channel") is None]
    pool = general or pool
    return rng.choice(pool) if pool else None


def _holds(conditions: Any, slots: Mapping[str, Any]) -> bool:
    if not isinstance(conditions, list):
        return False
    return all(
        isinstance(c, dict) and c.get("type", "slot") == "slot"
        and slots.get(str(c.get("name"))) == c.get("value")
        for c in conditions
    )


def fill(value: Any, values: Mapping[str, Any]) -> Any:
    """``{name}`` placeholders filled from ``values``; text naming an unknown value stays as written."""
    if isinstance(value, str):
        names = _PLACEHOLDER.findall(value)
        if not names or any(n not in values for n in names):
            return value
        return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), value)
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, values) for k, v in value.items()}
    return value


def render(variant: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A chosen variant with its placeholders filled (what Rasa's NLG hands the channel)."""
    return {k: fill(v, values) if k in _FILLED else v for k, v in variant.items()}


def messages_of(utterance: Mapping[str, Any]) -> list[BotMessage]:
    """The channel messages of one bot utterance, in the order Rasa's REST channel sends them."""
    out: list[BotMessage] = []
    text = utterance.get("text")
    text = None if text is None else str(text)
    quick = _buttons(utterance.get("quick_replies"))
    buttons = _buttons(utterance.get("buttons"))
    if quick or buttons:
        out.append(BotMessage(text=text, buttons=quick or buttons))
    elif text and text.strip():
        out += [BotMessage(text=part) for part in text.strip().split("\n\n")]
    custom = utterance.get("custom")
    if custom:
        out.append(BotMessage(custom=custom if isinstance(custom, dict) else {"value": custom}))
    image = utterance.get("image")
    if image:
        out.append(MediaMessage(custom={"type": "image", "src": str(image)}, key="image", value=str(image)))
    attachment = utterance.get("attachment")
    if attachment:
        out.append(MediaMessage(custom={"type": "attachment", "attachment": attachment}, key="attachment",
                                value=attachment))
    for element in utterance.get("elements") or []:
        # Rasa's default for channels without carousels: one text message with buttons each.
        if isinstance(element, dict):
            out.append(BotMessage(text=f"{element.get('title', '')} : {element.get('subtitle', '')}",
                                  buttons=_buttons(element.get("buttons"))))
    return out


def _buttons(items: Any) -> tuple[Button, ...]:
    if not isinstance(items, list):
        return ()
    return tuple(Button(title=str(b.get("title", "")), payload=str(b.get("payload", "")))
                 for b in items if isinstance(b, dict))


__all__ = ["MediaMessage", "choose_variant", "fill", "render", "messages_of"]
