"""Whether the shop's automatic escalation applies to a Rasa project (``SHOPBOT_RASA_ESCALATION``).

A Rasa project decides its own dialogue: a sad message or a run of fallbacks is the project's to
answer (moodbot's "my day was horrible" gets ``utter_cheer_up``), so the shop hands such a
conversation to its staff only where the project asks for it. ``auto`` reads the ask off the
domain: an intent, action or response whose name has ``handoff``, ``human`` or ``agent`` as a
word (words split at ``_``, ``-``, ``/``, ``.`` and spaces: ``human_handoff``, ``talk_to_human``,
``action_live_agent``, ``utter_handoff``; not ``bot_challenge``, not ``useragent``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

Escalation = Literal["auto", "on", "off"]
HANDOFF_WORDS = frozenset({"handoff", "human", "humans", "agent", "agents"})
_WORD = re.compile(r"[^a-z0-9]+")


def handoff_names(domain: Mapping[str, Any]) -> list[str]:
    """The domain's intents, actions and responses that name a handoff to a person."""
    return sorted(n for n in _names(domain) if HANDOFF_WORDS.intersection(_WORD.split(n.lower())))


def automatic_escalation(setting: Escalation, domain: Mapping[str, Any]) -> bool:
    """Whether negative sentiment and unanswered turns escalate a project's conversations."""
    if setting == "auto":
        return bool(handoff_names(domain))
    return setting == "on"


def _names(domain: Mapping[str, Any]) -> Iterable[str]:
    for key in ("intents", "actions"):
        for item in domain.get(key) or []:
            # An entry is a name, or a one-key mapping of a name to its options.
            if isinstance(item, str):
                yield item
            elif isinstance(item, Mapping):
                yield from (str(k) for k in item)
    responses = domain.get("responses")
    if isinstance(responses, Mapping):
        yield from (str(k) for k in responses)


__all__ = ["Escalation", "HANDOFF_WORDS", "automatic_escalation", "handoff_names"]
