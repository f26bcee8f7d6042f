"""The one factory of turn records: ids, time, redaction and flags are settled here.

Every record in the turn log, whether the bot answered, a shopper wrote to a person or a
person wrote back, is built by :meth:`RecordFactory.turn`, so redaction and flags cannot
differ between paths.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from core.messages import BotMessage
from core.turns import Flag, Hit, TurnRecord
from monitoring.flags import FlagThresholds, TurnFacts, flags_of
from monitoring.names import NameFinder
from monitoring.redact import Redactor

FACTS_KEY = "facts"


@dataclass(frozen=True)
class RecordFactory:
    """Builds :class:`TurnRecord`s with the flag thresholds in force.

    ``public`` holds the shop's own contact details, which redaction leaves in place; ``names``
    finds shoppers' names (with the NER model, loaded by its owner; cue words only when None);
    ``redactor`` is the one redactor built with them, for whatever else stores or shows turns.
    """

    thresholds: FlagThresholds = FlagThresholds()
    public: frozenset[str] = frozenset()
    names: NameFinder | None = field(default=None, repr=False, compare=False)
    redactor: Redactor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        redactor = Redactor(self.public) if self.names is None else Redactor(self.public, self.names)
        object.__setattr__(self, "redactor", redactor)

    def turn(
        self,
        *,
        conversation_id: str,
        channel: str,
        user_text: str,
        facts: TurnFacts,
        messages: Sequence[BotMessage] = (),
        sender: str | None = None,
        hits: Sequence[Hit] = (),
        latency_ms: Mapping[str, float] | None = None,
        versions: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> TurnRecord:
        """A record of one turn; the shopper's text and every reply are redacted here."""
        clean = self.redactor.text(user_text)
        # A text comes back changed exactly when something was replaced, normalised or scrubbed.
        pii = clean != user_text
        response = []
        for message in messages:
            item = {k: v for k, v in message.to_rest(conversation_id).items() if k != "recipient_id"}
            said = self.redactor.json(item)
            pii = pii or said != item
            by = {"sender": sender} if sender else {}
            response.append({"recipient_id": conversation_id, **said, **by})
        facts = replace(facts, pii_redacted=facts.pii_redacted or pii)
        return TurnRecord(
            conversation_id=conversation_id,
            turn_id=uuid.uuid4().hex,
            ts=datetime.now(UTC),
            channel=channel,
            user_text=clean,
            route=facts.route,
            response=tuple(response),
            hits=tuple(hits),
            latency_ms=dict(latency_ms or {}),
            versions=dict(versions or {}),
            flags=flags_of(facts, self.thresholds),
            metadata={**(metadata or {}), FACTS_KEY: self.stored(facts)},
        )

    def flags(self, facts: TurnFacts) -> frozenset[Flag]:
        """The flags ``facts`` give under these thresholds."""
        return flags_of(facts, self.thresholds)

    def stored(self, facts: TurnFacts) -> dict[str, Any]:
        """Facts with the thresholds they were judged by, as kept in a record's metadata."""
        return {**facts.to_json(), "thresholds": asdict(self.thresholds)}


def refreshed_flags(stored: Mapping[str, Any], **changes: Any) -> tuple[dict[str, Any], list[str]]:
    """Stored facts with ``changes`` applied, and the flags they now give (sorted names)."""
    # Thresholds a record was judged by; one added later (absent from older records) keeps its
    # default, and one this version does not know is ignored.
    known = {f.name for f in fields(FlagThresholds)}
    thresholds = FlagThresholds(**{k: v for k, v in stored.get("thresholds", {}).items() if k in known})
    facts = replace(TurnFacts.from_json(dict(stored)), **changes)
    flags = sorted(str(f) for f in flags_of(facts, thresholds))
    return {**facts.to_json(), "thresholds": asdict(thresholds)}, flags


__all__ = ["FACTS_KEY", "RecordFactory", "refreshed_flags"]
