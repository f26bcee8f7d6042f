"""A Rasa project's tracker per conversation: its slots, its latest events, and the slot mappings.

Slot values start at the domain's ``initial_value`` and change through custom actions' ``slot``
events and the slot mappings Shopbot applies at each message, as Rasa's ``action_extract_slots``
does (:func:`extract_slots`): ``from_intent``, ``from_text``, ``from_entity`` (entities from button
payloads and the project's entity extractor) and ``from_trigger_intent``, those conditioned on a
form only while it is active (and asking for the slot they name). Beside them, the conversation's
latest events (each message's intent and the actions that answered it, as many as the project's
rules and stories can look back: ``retrieval/rasa_flows.py: keep_events``) and its active loop
(form), which decide a message's answer in its context. They live in this process, or in Redis
when several workers share conversations, together, with one expiry; the shop's own slots stay in
``bot/engine/memory.py``.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.engine.state_backup import Recovery, StateBackup
from bot.limits import KeptBack, RedisAway, RedisOutage
from retrieval.rasa_flows import ACTION, USER, History
from retrieval.rasa_project import REQUESTED_SLOT, Form

_EVENT_KINDS = frozenset({USER, ACTION})
# How the active loop is stored: one more entry of the event list, which readers before forms skip.
_LOOP = "loop"


@dataclass(frozen=True)
class Tracker:
    """One conversation as Rasa's policies see it: its slot values (``requested_slot`` among them
    while a form asks), its latest events and its active loop (kept with the events)."""

    slots: Mapping[str, Any] = field(default_factory=dict)
    history: History = History()

    @property
    def active_loop(self) -> str | None:
        """The form active in the conversation, or None."""
        return self.history.active_loop

    def as_json(self) -> dict[str, Any]:
        """What is stored: ``{"slots": {...}, "events": [[kind, name], ...], "trimmed": bool}``; an
        active loop is one more event, ``["loop", name]``, last."""
        events = [list(e) for e in self.history.events]
        if self.history.active_loop is not None:
            events.append([_LOOP, self.history.active_loop])
        return {"slots": dict(self.slots), "events": events, "trimmed": self.history.trimmed}

    @classmethod
    def from_json(cls, data: Any) -> Tracker:
        """Read :meth:`as_json`; a mapping of slot values alone (stored before events were kept)
        is a conversation whose earlier events are unknown."""
        if isinstance(data, dict) and set(data) == {"slots", "events", "trimmed"} and \
                isinstance(data["slots"], dict) and isinstance(data["events"], list):
            pairs = [(str(e[0]), str(e[1])) for e in data["events"] if isinstance(e, list) and len(e) == 2]
            events = tuple(e for e in pairs if e[0] in _EVENT_KINDS)
            loop = next((name for kind, name in reversed(pairs) if kind == _LOOP), None)
            return cls(dict(data["slots"]), History(events, bool(data["trimmed"]), loop))
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
        self._recovery = Recovery(backup)

    @staticmethod
    def _key(conversation_id: str) -> str:
        return f"shopbot:rasa-slots:{conversation_id}"

    async def get(self, conversation_id: str) -> Tracker | None:
        """The conversation's tracker, or None for a new or expired one."""
        try:
            raw = await self.outage.call(lambda: self._read(conversation_id))
        except RedisAway:  # the newest any worker wrote, else what this worker last saw
            self._recovery.away(int(time.time() * 1000))
            kept = await self._recovery.kept(conversation_id, self._unsaved.written(conversation_id))
            return Tracker.from_json(json.loads(kept)) if kept is not None else \
                await self._cache.get(conversation_id)
        return None if raw is None else Tracker.from_json(json.loads(raw))

    async def _read(self, conversation_id: str) -> Any:
        await self._save_kept_back()
        return await self._recovery.read(self._redis, self._key(conversation_id), conversation_id)

    async def put(self, conversation_id: str, tracker: Tracker) -> None:
        """Store the tracker with a fresh expiry."""
        await self._cache.put(conversation_id, tracker)
        written = int(time.time() * 1000)
        if self._recovery.backup is not None:
            await self._recovery.backup.save(conversation_id, _body(tracker), written)
        try:
            await self.outage.call(lambda: self._save(conversation_id, tracker, written))
        except RedisAway:  # the answer matters more than the memory: kept here until Redis is back
            self._recovery.away(written)
            self._unsaved.keep(conversation_id, written)
            return
        self._unsaved.discard(conversation_id)

    async def _save(self, conversation_id: str, tracker: Tracker, written: int) -> None:
        await self._save_kept_back()
        await self._write(conversation_id, _body(tracker), written, kept_back=False)

    async def _save_kept_back(self) -> None:
        """Write what the outage changed: every worker's writes from the database copy, then what
        this worker kept (raises while Redis is still away); a newer write in Redis stays."""
        await self._recovery.restore(lambda conversation_id, body, at:
                                     self._write(conversation_id, body, at, kept_back=True))

        async def write(conversation_id: str, written: int) -> None:
            tracker = self._cache.peek(conversation_id)
            if tracker is not None:
                await self._write(conversation_id, _body(tracker), written, kept_back=True)

        await self._unsaved.save(write)

    async def _write(self, conversation_id: str, body: str, written: int, *, kept_back: bool) -> None:
        key = self._key(conversation_id)
        await self._set(keys=[key, f"{key}:at"], args=[body, self._ttl, written, "1" if kept_back else "0"])


def _body(tracker: Tracker) -> str:
    return json.dumps(tracker.as_json(), default=str)


def initial_values(specs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Every slot at its ``initial_value`` (None when the domain gives none)."""
    return {name: spec.get("initial_value") for name, spec in specs.items()}


def extract_slots(
    specs: Mapping[str, Mapping[str, Any]],
    values: Mapping[str, Any],
    intent: str,
    entities: Sequence[Mapping[str, Any]],
    text: str,
    *,
    active_loop: str | None = None,
    forms: Mapping[str, Form] | None = None,
) -> dict[str, Any]:
    """The slots this message sets and their values, as Rasa's ``action_extract_slots`` sets them.

    Each slot takes the value of its first mapping that gives one. A mapping with ``conditions``
    applies only while one of them holds (its ``active_loop`` active and, when it names one, its
    ``requested_slot`` asked for); ``from_trigger_intent`` applies only while none of its forms is
    active. While a form is active its ``ignored_intents`` fill none of the mappings that apply to
    it, and an entity that several of its required slots map alike fills only the slot asked for.
    ``from_entity`` takes the entities of that name (and ``role``/``group``, when given: an entity
    without one only fits a mapping without one); a ``list`` slot takes them all, others the last.
    """
    form = (forms or {}).get(active_loop) if active_loop is not None else None
    requested = values.get(REQUESTED_SLOT)
    shared = _shared_entity_mappings(specs, form) if form is not None else set()
    out: dict[str, Any] = {}
    for name, spec in specs.items():
        for mapping in spec.get("mappings") or []:
            if not isinstance(mapping, dict):
                continue
            kind, conditions = mapping.get("type"), mapping.get("conditions") or []
            if kind != "from_trigger_intent" and conditions and \
                    not _conditions_hold(conditions, active_loop, requested):
                continue
            ignored = form.ignored_intents if form is not None and (
                not conditions or active_loop in _loops(conditions)) else frozenset()
            if not _intent_allows(mapping, intent, ignored):
                continue
            if kind == "from_entity":
                if form is not None and name in form.required_slots and name != requested and \
                        _mapping_key(mapping) in shared:
                    continue
                found = [e.get("value") for e in entities if _entity_fits(mapping, e)]
                if not found:
                    continue
                out[name] = found if spec.get("type") == "list" else found[-1]
            elif kind == "from_intent":
                out[name] = mapping.get("value")
            elif kind == "from_trigger_intent":
                if active_loop is not None and active_loop in _loops(conditions):
                    continue
                out[name] = mapping.get("value")
            elif kind == "from_text":
                out[name] = text
            else:
                continue
            break
    return out


def _conditions_hold(conditions: Sequence[Any], active_loop: str | None, requested: Any) -> bool:
    return any(isinstance(c, dict) and c.get("active_loop") == active_loop and active_loop is not None
               and (c.get(REQUESTED_SLOT) is None or c.get(REQUESTED_SLOT) == requested)
               for c in conditions)


def _loops(conditions: Sequence[Any]) -> set[Any]:
    return {c.get("active_loop") for c in conditions if isinstance(c, dict)}


def _entity_fits(mapping: Mapping[str, Any], entity: Mapping[str, Any]) -> bool:
    return (entity.get("entity") == mapping.get("entity") and entity.get("role") == mapping.get("role")
            and entity.get("group") == mapping.get("group"))


def _mapping_key(mapping: Mapping[str, Any]) -> str:
    return json.dumps(mapping, sort_keys=True, default=str)


def _shared_entity_mappings(specs: Mapping[str, Mapping[str, Any]], form: Form) -> set[str]:
    """The ``from_entity`` mappings that more than one of the form's required slots has, alike."""
    seen: dict[str, int] = {}
    for slot in form.required_slots:
        for mapping in (specs.get(slot) or {}).get("mappings") or []:
            if isinstance(mapping, dict) and mapping.get("type") == "from_entity":
                key = _mapping_key(mapping)
                seen[key] = seen.get(key, 0) + 1
    return {key for key, count in seen.items() if count > 1}


def _intent_allows(mapping: Mapping[str, Any], intent: str, ignored: frozenset[str] = frozenset()) -> bool:
    wanted, unwanted = _names(mapping.get("intent")), _names(mapping.get("not_intent")) | ignored
    return intent in wanted or (not wanted and intent not in unwanted)


def _names(value: Any) -> set[str]:
    if value is None:
        return set()
    return {str(v) for v in value} if isinstance(value, list) else {str(value)}


__all__ = ["Tracker", "SlotStore", "InProcessSlots", "RedisSlots", "initial_values", "extract_slots"]
