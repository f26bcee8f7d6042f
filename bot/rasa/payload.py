"""Button payloads as Rasa parses them: ``/intent``, ``/intent{"entity": "value"}``, ``/intent@0.9``.

A payload names the intent directly (no classification) and may set entities; a list value
sets the entity once per item. Entities that are not valid JSON are ignored, as Rasa does
(with a warning in its log).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.engine.interfaces import Entities
from bot.engine.nlu import extract

log = logging.getLogger(__name__)

_PAYLOAD = re.compile(
    r"^\s*/(?P<intent>[^{@\s][^{@]*?)\s*(?P<confidence>@[0-9.]+)?\s*(?P<entities>\{.*\})?\s*$", re.DOTALL
)


@dataclass(frozen=True)
class Payload:
    """The intent a payload names and the entities it sets, in order."""

    intent: str
    entities: tuple[tuple[str, Any], ...] = ()

    def as_rasa(self) -> list[dict[str, Any]]:
        """Entity dicts as a rasa-sdk tracker's ``latest_message`` holds them."""
        return [{"entity": name, "value": value} for name, value in self.entities]


def parse_payload(text: str) -> Payload | None:
    """The payload in ``text``, or None when the text is not one."""
    match = _PAYLOAD.match(text)
    if match is None:
        return None
    return Payload(match.group("intent").strip(), _entities(match.group("entities"), text))


def _entities(raw: str | None, text: str) -> tuple[tuple[str, Any], ...]:
    if not raw:
        return ()
    try:
        parsed = json.loads(raw)
    except ValueError:
        # The payload's text is the shopper's: its length only, never its words, in the log.
        log.warning("ignoring the entities of a payload (%d chars): not valid JSON", len(text))
        return ()
    if not isinstance(parsed, dict):
        log.warning("ignoring the entities of a payload (%d chars): not a JSON object", len(text))
        return ()
    out: list[tuple[str, Any]] = []
    for name, value in parsed.items():
        out += [(str(name), v) for v in value] if isinstance(value, list) else [(str(name), value)]
    return tuple(out)


def extract_with_payloads(text: str, typed: Callable[[str], Entities] = extract) -> Entities:
    """What the pipeline reads off a message when a Rasa project runs: a payload's intent, or
    the shop's own patterns (``typed``) for typed text."""
    payload = parse_payload(text)
    return Entities(payload_intent=payload.intent) if payload is not None else typed(text)


def payload_text(intent: str, entities: Sequence[Mapping[str, Any]]) -> str:
    """The payload message that runs ``intent`` with ``entities`` (Rasa's ``{"entity", "value"}``
    dicts): ``/intent{"entity": value}``; an entity given more than once becomes a list, which
    :func:`parse_payload` sets once per item."""
    values: dict[str, list[Any]] = {}
    for item in entities:
        values.setdefault(str(item["entity"]), []).append(item.get("value"))
    if not values:
        return f"/{intent}"
    packed = {name: found[0] if len(found) == 1 else found for name, found in values.items()}
    return f"/{intent}{json.dumps(packed, ensure_ascii=False, separators=(',', ':'))}"
