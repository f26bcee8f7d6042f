"""A Rasa project's tracker per conversation: its slots, its latest events, and the slot mappings.

Slot values start at the domain's ``initial_value`` and change through custom actions' ``slot``
events and the slot mappings Shopbot applies at each message: ``from_intent``, ``from_text``
and ``from_entity`` (entities come from button payloads). Beside them, the conversation's latest
events (each message's intent and the actions that answered it, as many as the project's rules
and stories can look back: ``retrieval/rasa_flows.py: keep_events``), which decide a message's
answer in its context. Both live in this process, or in Redis when several workers share
conversations, together, with one expiry; the shop's own slots stay in ``bot/engine/memory.py``.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.engine.state_backup import StateBackup
from bot.limits import KeptBack, RedisAway, RedisOutage
from retrieval.rasa_flows import ACTION, USER, History

_EVENT_KINDS = frozenset({USER, ACTION})


@dataclass(frozen=True)
class Tracker:
    """One conversation as Rasa's policies see it: its slot values and its latest events."""

    slots: Mapping[str, Any] = field(default_factory=dict)
    history: History = History()

    def as_json(self) -> dict[str, Any]:
        """What is stored: ``{"slots": {...}, "events": [[kind, name], ...], "trimmed": bool}``."""
        return {"slots": dict(self.slots), "events": [list(e) for e in self.history.events],
                "trimmed": self.history.trimmed}

    @classmethod
    def from_json(cls, data: Any) -> Tracker:
        """Read :meth:`as_json`; a mapping of slot values alone (stored before events were kept)
        is a conversation whose earlier events are unknown."""
        if isinstance(data, dict) and set(data) == {"slots", "events", "trimmed"} and \
                isinstance(data["slots"], dict) and isinstance(data["events"], list):
            events = tuple((str(e[0]), str(e[1])) for e in data["events"]
                           if isinstance(e, list) and len(e) == 2 and e[0] in _EVENT_KINDS)
            return cls(dict(data["slots"]), History(events, bool(data["trimmed"])))
        return cls(dict(data) if isinstance(data, dict) else {}, History((), True))


class SlotStore(Protocol):
    """Where a conversation's tracker (project slots and latest events) lives between its messages."""

    async def get(self, conversation_id: str) -> Tracker | None: ...

    async def put(self, conversation_id: str, tracker: Tracker) -> None: ...


class InProcessSlots:
    """A bounded LRU map of conversation id to tracker."""

    def __init__(self, max_conversations: int = 10_000) -> None:
        self._max = max_conversations
        self._data: OrderedDict[str, Tracker] = OrderedDict()

    async def get(self, conversation_id: str) -> Tracker | None:
        """The conversation's tracker, or None for a new conversation."""
        tracker = self._data.get(conversation_id)
        if tracker is None:
            return None
        self._data.move_to_end(conversation_id)
        return Tracker(dict(tracker.slots), tracker.history)

    def peek(self, conversation_id: str) -> Tracker | None:
        """The conversation's tracker if held, without counting it as used."""
        return self._data.get(conversation_id)

    async def put(self, conversation_id: str, tracker: Tracker) -> None:
        """Store the tracker, evicting the least recently used conversation when full."""
        self._data[conversation_id] = Tracker(dict(tracker.slots), tracker.history)
        self._data.move_to_end(conversation_id)
        while len(self._data) > self._max:
            self._data.popitem(last=False)


# Store a tracker; with ARGV[4] == '1' (a write kept back during a Redis outage) only over one
# written before it (ARGV[3], wall-clock milliseconds), never over another worker's newer one.
_SET = """
if ARGV[4] == '1' and tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
return 1
"""


class RedisSlots:
    """Trackers in Redis (JSON, expiring when idle); this worker's copy stands in while it is away.

    Written while the pipeline holds the conversation's lock, so writes keep message order.
    Every write also goes to the database (``backup``, encrypted: :mod:`bot.engine.state_backup`),
    which is what the workers read while Redis is away, so that a conversation moving between
    workers during an outage goes on from its newest tracker. What an outage kept in this worker
    is written to Redis first once it answers again, unless another worker wrote that
    conversation later.
    """

    def __init__(
        self, redis: Any, ttl_s: int = 7 * 24 * 3600, cache_size: int = 10_000, *,
        outage: RedisOutage | None = None, backup: StateBackup | None = None,
    ) -> None:
        self._redis = redis
        self._ttl = ttl_s
        self._set = redis.register_script(_SET)
        self._cache = InProcessSlots(cache_size)
        # Conversations written only here during an outage -> when (wall-clock ms), oldest first.
        self._unsaved = KeptBack(cache_size)
        self.outage = outage or RedisOutage("project slots")
        self._backup = backup

    @staticmethod
    def _key(conversation_id: str) -> str:
        return f"shopbot:rasa-slots:{conversation_id}"

    async def get(self, conversation_id: str) -> Tracker | None:
        """The conversation's tracker, or None for a new or expired one."""
        try:
            raw = await self.outage.call(lambda: self._read(conversation_id))
        except RedisAway:  # the newest any worker wrote, else what this worker last saw
            kept = None if self._backup is None else await self._backup.newest(
                conversation_id, self._unsaved.written(conversation_id))
            return Tracker.from_json(json.loads(kept)) if kept is not None else \
                await self._cache.get(conversation_id)
        return None if raw is None else Tracker.from_json(json.loads(raw))

    async def _read(self, conversation_id: str) -> Any:
        await self._save_kept_back()
        return await self._redis.get(self._key(conversation_id))

    async def put(self, conversation_id: str, tracker: Tracker) -> None:
        """Store the tracker with a fresh expiry."""
        await self._cache.put(conversation_id, tracker)
        written = int(time.time() * 1000)
        if self._backup is not None:
            await self._backup.save(conversation_id, json.dumps(tracker.as_json(), default=str), written)
        try:
            await self.outage.call(lambda: self._save(conversation_id, tracker, written))
        except RedisAway:  # the answer matters more than the memory: kept here until Redis is back
            self._unsaved.keep(conversation_id, written)
            return
        self._unsaved.discard(conversation_id)

    async def _save(self, conversation_id: str, tracker: Tracker, written: int) -> None:
        await self._save_kept_back()
        await self._write(conversation_id, tracker, written, kept_back=False)

    async def _save_kept_back(self) -> None:
        """Write what an outage kept in this worker (raises while Redis is still away)."""

        async def write(conversation_id: str, written: int) -> None:
            tracker = self._cache.peek(conversation_id)
            if tracker is not None:
                await self._write(conversation_id, tracker, written, kept_back=True)

        await self._unsaved.save(write)

    async def _write(self, conversation_id: str, tracker: Tracker, written: int, *, kept_back: bool) -> None:
        key = self._key(conversation_id)
        await self._set(keys=[key, f"{key}:at"],
                        args=[json.dumps(tracker.as_json(), default=str), self._ttl, written,
                              "1" if kept_back else "0"])


def initial_values(specs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Every slot at its ``initial_value`` (None when the domain gives none)."""
    return {name: spec.get("initial_value") for name, spec in specs.items()}


def apply_mappings(
    specs: Mapping[str, Mapping[str, Any]],
    values: Mapping[str, Any],
    intent: str,
    entities: Sequence[Mapping[str, Any]],
    text: str,
) -> dict[str, Any]:
    """Values after this message's slot mappings (those conditioned on a form are not applied)."""
    out = dict(values)
    found = {str(e.get("entity")): e.get("value") for e in entities}
    for name, spec in specs.items():
        for mapping in spec.get("mappings") or []:
            if not isinstance(mapping, dict) or mapping.get("conditions"):
                continue
            if not _intent_allows(mapping, intent):
                continue
            kind = mapping.get("type")
            if kind == "from_entity" and mapping.get("entity") in found:
                out[name] = found[str(mapping["entity"])]
            elif kind == "from_intent":
                out[name] = mapping.get("value")
            elif kind == "from_text":
                out[name] = text
    return out


def _intent_allows(mapping: Mapping[str, Any], intent: str) -> bool:
    wanted, unwanted = _names(mapping.get("intent")), _names(mapping.get("not_intent"))
    return intent not in unwanted and (not wanted or intent in wanted)


def _names(value: Any) -> set[str]:
    if value is None:
        return set()
    return {str(v) for v in value} if isinstance(value, list) else {str(value)}


__all__ = ["Tracker", "SlotStore", "InProcessSlots", "RedisSlots", "initial_values", "apply_mappings"]
