"""Rasa rules and stories: what each says, which ones Shopbot runs, and which one answers a message.

Each rule and story is read into its user messages (:class:`Turn`: the intents, what the flow
states about slots up to there, the actions answering). Every turn with actions becomes a
:class:`Continuation`: the events before it in its flow (its *context*) and the actions it runs.
:func:`choose` picks a message's continuation for the conversation so far (:class:`History`) as
Rasa's policies would: a rule whose whole context and conditions match (RulePolicy: the most
specific one wins; a ``conversation_start`` rule only from the first message on), else the story
turns matching the longest stretch of the latest events, up to ``max_history`` (MemoizationPolicy,
backing off to shorter history when nothing matches, as AugmentedMemoizationPolicy forgets the
oldest turns); story turns that then disagree answer nothing. Forms (active loops) take part as
Rasa's rules write them: a ``condition`` or ``active_loop`` step states which form is active when a
message comes (:class:`LoopIs`), and what follows ``action: <form>`` then ``active_loop: null`` (the
submit rule) is what runs once that form is done (:attr:`Resolved.after_loop`). What Shopbot drops
(``unsupported``) or runs differently (``changed``) is reported as an :class:`Issue` with its file
and line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import BadRequest
from retrieval.rasa_yaml import YamlMap, line_of

UNSUPPORTED = "unsupported"
CHANGED = "changed"
# Rasa's default max_history for MemoizationPolicy (rasa.core.constants.DEFAULT_MAX_HISTORY).
DEFAULT_MAX_HISTORY = 5

# Default actions a turn may hold; the others need machinery Shopbot does not run (the
# two-stage fallback, undoing turns, TEDPolicy's unlikely-intent check).
DEACTIVATE_LOOP = "action_deactivate_loop"
RUNNABLE_DEFAULT_ACTIONS = frozenset({
    "action_listen", "action_restart", "action_session_start", "action_default_fallback", DEACTIVATE_LOOP,
})
OTHER_DEFAULT_ACTIONS = frozenset({
    "action_revert_fallback_events", "action_default_ask_affirmation",
    "action_default_ask_rephrase", "action_two_stage_fallback", "action_unlikely_intent",
    "action_back", "action_extract_slots",
})

# The kinds of event in a conversation and in a flow's context. START is the conversation's (or a
# story's) beginning, as Rasa's first, empty state is.
USER, ACTION, START = "user", "action", "start"
Event = tuple[str, str]  # (USER, intent) | (ACTION, action name) | (START, "")
Pattern = tuple[str, tuple[str, ...]]  # (USER, intents) | (ACTION, (name,)) | (START, ())


@dataclass(frozen=True)
class Issue:
    """A part of the project Shopbot drops or runs differently, with where it is."""

    file: str
    line: int
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind}: {self.message}"


@dataclass(frozen=True)
class SlotIs:
    """A ``slot_was_set`` step or condition: the slot holds ``value`` (any value when ``any_value``)."""

    name: str
    value: Any = None
    any_value: bool = False


@dataclass(frozen=True)
class LoopIs:
    """A flow's statement about the active loop: form ``name`` is active (None: no form is)."""

    name: str | None


@dataclass(frozen=True)
class Turn:
    """One user message of a rule or story and the actions answering it.

    ``intents`` is empty for the actions a rule starts with (context, not run). ``slots`` is what
    the flow states about slots up to the first action: its condition and every ``slot_was_set``
    so far, the latest of each slot. ``loop`` is what the flow states about the active loop when
    the message comes (None: nothing). ``ends`` holds, for each ``active_loop: null`` step among the
    actions, how many actions came before it (the last of them the form it ends).
    """

    intents: tuple[str, ...]
    actions: tuple[str, ...]
    file: str
    line: int
    slots: tuple[SlotIs, ...] = ()
    loop: LoopIs | None = None
    ends: tuple[int, ...] = ()

    @property
    def where(self) -> str:
        """``file:line`` of the message."""
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Flow:
    """A rule or a story as written: its user turns and why it cannot run (empty: it can)."""

    kind: str  # "rule" | "story"
    name: str
    file: str
    line: int
    turns: tuple[Turn, ...]
    blockers: tuple[str, ...] = ()
    conversation_start: bool = False


@dataclass(frozen=True)
class Continuation:
    """A rule's or story's answer to one message, with what must come before it."""

    kind: str  # "rule" | "story"
    name: str
    # The flow's events before the message, oldest first; START first when they reach a story's
    # beginning or the rule has ``conversation_start``.
    context: tuple[Pattern, ...]
    intents: tuple[str, ...]
    actions: tuple[str, ...]
    slots: tuple[SlotIs, ...]
    file: str
    line: int
    # The active loop the flow states when the message comes (None: it does not say).
    loop: LoopIs | None = None

    @property
    def where(self) -> str:
        """``file:line`` of the message."""
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class History:
    """A conversation's latest events, oldest first, as Rasa's policies see its tracker.

    ``trimmed`` says older events were dropped, so the first one kept is not the conversation's
    beginning. ``active_loop`` is the form active now (None: none), as Rasa's tracker holds it.
    """

    events: tuple[Event, ...] = ()
    trimmed: bool = False
    active_loop: str | None = None

    def after(self, intent: str, actions: Iterable[str], keep: int) -> History:
        """This history with one more message and the actions that answered it, ``keep`` events at most."""
        return self._kept((*self.events, (USER, intent), *((ACTION, a) for a in actions)), keep)

    def then(self, actions: Iterable[str], keep: int) -> History:
        """This history with more actions and no message (a form done, an action run from outside)."""
        return self._kept((*self.events, *((ACTION, a) for a in actions)), keep)

    def with_loop(self, name: str | None) -> History:
        """The same events with ``name`` the active loop."""
        return History(self.events, self.trimmed, name)

    def _kept(self, events: tuple[Event, ...], keep: int) -> History:
        if len(events) <= keep:
            return History(events, self.trimmed, self.active_loop)
        return History(events[len(events) - keep:], True, self.active_loop)

    def sequence(self) -> tuple[Event, ...]:
        """The events matched against flows: START first when the conversation's beginning is kept."""
        return self.events if self.trimmed else ((START, ""), *self.events)


@dataclass(frozen=True)
class Resolved:
    """What of a project's rules and stories runs."""

    # Each intent's answer wherever it comes: its one-message rules, or its story messages, agreeing.
    turns: dict[str, tuple[str, ...]]
    # Each intent's answers in context (every runnable rule and story message), for :func:`choose`.
    continuations: dict[str, tuple[Continuation, ...]]
    issues: list[Issue] = field(default_factory=list)
    # Form → what runs once it is done (``action: <form>``, ``active_loop: null``, then actions),
    # for :func:`choose_after_loop`.
    after_loop: dict[str, tuple[Continuation, ...]] = field(default_factory=dict)


# --- Reading rules and stories --------------------------------------------------------------------

def parse_flows(items: Any, kind: str, file: str) -> list[Flow]:
    """The ``rules:`` or ``stories:`` list of one file."""
    if not isinstance(items, list):
        raise BadRequest(f"{file}:{line_of(items, 1)}: '{kind}s' must be a list")
    return [_flow(item, kind, file, line_of(items, 1)) for item in items]


def _flow(item: Any, kind: str, file: str, default_line: int) -> Flow:
    line = line_of(item, default_line)
    if not isinstance(item, dict):
        return Flow(kind, "?", file, line, (), (f"a {kind} must be a mapping",))
    name = str(item.get(kind, "?"))
    blockers: list[str] = []
    stated: list[SlotIs] = []
    loop: LoopIs | None = None
    start = False
    if kind == "rule":
        if item.get("condition"):
            stated, loop = _condition(item["condition"], _key_line(item, "condition"), blockers)
        if item.get("wait_for_user_input") is False:
            blockers.append("wait_for_user_input: false chains it to other rules")
        start = bool(item.get("conversation_start"))
    steps = item.get("steps")
    if not isinstance(steps, list):
        return Flow(kind, name, file, line, (), (*blockers, "it has no steps"), start)
    turns, step_blockers = _turns(steps, kind, file, stated, loop)
    # A rule with no message that starts with a form ending (the submit rule) says what runs then.
    if not any(t.intents for t in turns) and not step_blockers and not (turns and 1 in turns[0].ends):
        step_blockers.append("it has no user message")
    return Flow(kind, name, file, line, turns, (*blockers, *step_blockers), start)


def _key_line(item: Any, key: str) -> int:
    return item.line_of(key) if isinstance(item, YamlMap) else line_of(item)


def _condition(condition: Any, at: int, blockers: list[str]) -> tuple[list[SlotIs], LoopIs | None]:
    """A rule's ``condition``: the slots and the active loop it states."""
    stated: list[SlotIs] = []
    loop: LoopIs | None = None
    for entry in condition if isinstance(condition, list) else [condition]:
        if isinstance(entry, dict) and "slot_was_set" in entry:
            stated += _slots_set(entry["slot_was_set"], line_of(entry, at), blockers)
        elif isinstance(entry, dict) and "active_loop" in entry:
            value = entry["active_loop"]
            loop = LoopIs(None if value is None else str(value))
        else:
            blockers.append(f"its condition (line {line_of(entry, at)}) is neither slot_was_set "
                            "nor active_loop")
    return stated, loop


def _slots_set(value: Any, at: int, blockers: list[str]) -> list[SlotIs]:
    items = value if isinstance(value, list) else [value]
    out: list[SlotIs] = []
    for item in items:
        if isinstance(item, str):
            out.append(SlotIs(item, any_value=True))
        elif isinstance(item, dict):
            out += [SlotIs(str(name), slot_value) for name, slot_value in item.items()]
        else:
            blockers.append(f"line {at}: slot_was_set lists neither slot names nor name: value")
    return out


def _turns(
    steps: list[Any], kind: str, file: str, condition: list[SlotIs], loop: LoopIs | None = None
) -> tuple[tuple[Turn, ...], list[str]]:
    turns: list[Turn] = []
    blockers: list[str] = []
    stated = {s.name: s for s in condition}
    intents: tuple[str, ...] | None = None  # None: no user message yet
    actions: list[str] = []
    ends: list[int] = []
    slots_at: tuple[SlotIs, ...] | None = None
    loop_at = loop  # the active loop when the turn's message comes
    start = 0

    def close() -> None:
        if intents is not None or actions:
            turns.append(Turn(intents or (), tuple(actions), file, start,
                              tuple(stated.values()) if slots_at is None else slots_at, loop_at,
                              tuple(ends)))

    for step in steps:
        at = line_of(step)
        if not isinstance(step, dict):
            blockers.append(f"line {at}: a step must be a mapping")
            continue
        if "intent" in step or "or" in step or "user" in step:
            close()
            intents, actions, slots_at, start = _user_step(step, at, blockers), [], None, at
            ends, loop_at = [], loop
        elif "action" in step:
            name = str(step["action"])
            if name == "action_listen":
                continue
            if intents is None and kind == "story":
                blockers.append(f"line {at}: action {name} runs before any user message")
            if not actions:
                start = at if intents is None else start
                slots_at = tuple(stated.values())
            actions.append(name)
        elif "slot_was_set" in step:
            # Before an action it is a condition; after one, what the action set: either way what
            # the slots hold from here on.
            stated.update((s.name, s) for s in _slots_set(step["slot_was_set"], at, blockers))
        elif "active_loop" in step:
            value = step["active_loop"]
            if value is not None and (not actions or actions[-1] != str(value)):
                blockers.append(f"line {at}: active_loop {value} does not follow its form's action")
            elif value is None and not actions:
                blockers.append(f"line {at}: active_loop null does not follow an action")
            elif value is None:
                ends.append(len(actions))
            loop = LoopIs(None if value is None else str(value))
        elif "checkpoint" in step:
            blockers.append(f"line {at}: checkpoint {step['checkpoint']} links stories together")
        elif "bot" in step:
            blockers.append(f"line {at}: end-to-end bot text")
        else:
            blockers.append(f"line {at}: unknown step {sorted(map(str, step))}")
    close()
    return tuple(turns), blockers


def _user_step(step: dict[str, Any], at: int, blockers: list[str]) -> tuple[str, ...]:
    if "or" in step:
        options = step["or"] if isinstance(step["or"], list) else []
        names = tuple(str(o["intent"]) for o in options if isinstance(o, dict) and "intent" in o)
        if len(names) != len(options) or not names:
            blockers.append(f"line {at}: an 'or' step that is not a list of intents")
        return names
    if "intent" not in step:
        blockers.append(f"line {at}: end-to-end user text without an intent")
        return ()
    if step.get("entities"):
        blockers.append(f"line {at}: the message is conditioned on its entities")
    return (str(step["intent"]),)


# --- What runs --------------------------------------------------------------------------------------

def resolve_flows(
    flows: Iterable[Flow],
    cannot_run: Callable[[str], str | None],
    slot_specs: Mapping[str, Mapping[str, Any]],
    max_history: int | None = DEFAULT_MAX_HISTORY,
    forms: Iterable[str] = (),
) -> Resolved:
    """The rules and stories that run, each intent's answer anywhere, and every issue met on the way.

    ``cannot_run(action)`` says why an action cannot run here, or None when it can. Each runnable
    message is checked the way ``rasa train`` checks them: a rule that answers a story's message
    differently wins there (``changed``); rules, or stories, answering the same message in the
    same context differently cannot both be followed (``unsupported``).
    """
    issues: list[Issue] = []
    by_intent: dict[str, list[Continuation]] = {}
    after: dict[str, list[Continuation]] = {}
    form_names = frozenset(forms)
    for flow in flows:
        reasons = list(flow.blockers)
        reasons += [f"action {a}: {why}" for t in flow.turns for a in t.actions
                    if (why := cannot_run(a)) is not None]
        reasons += [f"it needs form {t.loop.name} active, and no such form runs" for t in flow.turns
                    if t.loop is not None and t.loop.name is not None and t.loop.name not in form_names]
        if reasons:
            issues.append(Issue(flow.file, flow.line, UNSUPPORTED,
                                f"{flow.kind} '{flow.name}' is not run: {'; '.join(_unique(reasons))}"))
            continue
        for continuation in _continuations(flow):
            for intent in continuation.intents:
                by_intent.setdefault(intent, []).append(continuation)
        for form, continuation in _after_loops(flow, form_names):
            after.setdefault(form, []).append(continuation)
    turns = _anywhere(by_intent)
    checked, followed = _checked(by_intent, slot_specs, max_history)
    issues += checked
    for intent, found in by_intent.items():
        if intent not in turns and intent in followed:
            places = ", ".join(_unique([c.where for c in found]))
            issues.append(Issue(found[0].file, found[0].line, CHANGED, (
                f"intent {intent} is answered only in the context its rules and stories give it "
                f"({places}); anywhere else it gets the fallback (Rasa's TEDPolicy would predict "
                "an action)")))
    # An intent whose rules and stories contradict each other wherever they answer it is answered
    # nowhere: it gets the fallback, as before context was kept.
    return Resolved(turns, {k: tuple(v) for k, v in by_intent.items() if k in turns or k in followed},
                    issues, {k: tuple(v) for k, v in after.items()})


def _continuations(flow: Flow) -> list[Continuation]:
    context: list[Pattern] = [(START, ())] if flow.kind == "story" or flow.conversation_start else []
    out: list[Continuation] = []
    for turn in flow.turns:
        if turn.intents and turn.actions:
            out.append(Continuation(flow.kind, flow.name, tuple(context), turn.intents, turn.actions,
                                    turn.slots, turn.file, turn.line, turn.loop))
        if turn.intents:
            context.append((USER, turn.intents))
        context += [(ACTION, (a,)) for a in turn.actions]
    return out


def _after_loops(flow: Flow, forms: frozenset[str]) -> list[tuple[str, Continuation]]:
    """What the flow runs once a form is done: the actions after each ``action: <form>``,
    ``active_loop: null`` (the rest of that turn)."""
    out = []
    for turn in flow.turns:
        for count in turn.ends:
            form = turn.actions[count - 1]
            if form in forms:
                out.append((form, Continuation(flow.kind, flow.name, (), (), turn.actions[count:], turn.slots,
                                               turn.file, turn.line, turn.loop)))
    return out


def _anywhere(by_intent: Mapping[str, list[Continuation]]) -> dict[str, tuple[str, ...]]:
    """Each intent's answer in any context with no form active: see :func:`anywhere`."""
    chosen: dict[str, tuple[str, ...]] = {}
    for intent, found in by_intent.items():
        actions = anywhere(found, None)
        if actions is not None:
            chosen[intent] = actions
    return chosen


def anywhere(found: Iterable[Continuation], active_loop: str | None) -> tuple[str, ...] | None:
    """An intent's answer in any context while ``active_loop`` is active (None: no form): its
    one-message rules, else its story messages (none stating slots), when they agree."""
    fit = [c for c in found if _loop_holds(c.loop, active_loop)]
    rules = [c for c in fit if c.kind == "rule" and not c.context and not c.slots]
    stories = [c for c in fit if c.kind == "story" and not c.slots]
    agreeing = {c.actions for c in rules or stories}
    return agreeing.pop() if len(agreeing) == 1 else None


def _loop_holds(stated: LoopIs | None, active_loop: str | None) -> bool:
    return stated is None or stated.name == active_loop


def _checked(
    by_intent: Mapping[str, list[Continuation]],
    specs: Mapping[str, Mapping[str, Any]],
    max_history: int | None,
) -> tuple[list[Issue], set[str]]:
    """Each runnable message followed in its own context, as ``rasa train`` checks rules against
    stories: the issues, and the intents some rule or story is followed for there."""
    issues: dict[tuple[str, ...], Issue] = {}
    followed: set[str] = set()
    initial = {name: spec.get("initial_value") for name, spec in specs.items()}
    for intent, found in by_intent.items():
        for own in found:
            seq = _sequence_of(own.context)
            values = {**initial, **{s.name: _SOME if s.any_value else s.value for s in own.slots}}
            loop = own.loop.name if own.loop is not None else None
            if choose(found, intent, _history_of(seq), values, specs, max_history, loop) is not None:
                followed.add(intent)
            fit = [c for c in found if all(slot_holds(s, values, specs) for s in c.slots)
                   and _loop_holds(c.loop, loop)]
            rules = _rule_level([c for c in fit if c.kind == "rule"], seq)
            if len({c.actions for c in rules}) > 1:
                places = _places(rules)
                issues.setdefault(("rules", intent, places), Issue(
                    rules[0].file, rules[0].line, UNSUPPORTED, (
                        f"rules answer {intent} in different ways in the same context ({places}): Rasa "
                        "refuses contradicting rules; Shopbot follows none of them there")))
            elif rules and own.kind == "story" and rules[0].actions != own.actions:
                rule = rules[0]
                issues.setdefault(("wins", own.where, intent), Issue(own.file, own.line, CHANGED, (
                    f"this story answers {intent} with {', '.join(own.actions)}; the rule '{rule.name}' at "
                    f"{rule.where} answers it here with {', '.join(rule.actions)} and wins")))
            elif not rules and own.kind == "story":
                stories = _story_level([c for c in fit if c.kind == "story"], seq, max_history)
                if len({c.actions for c in stories}) > 1:
                    places = _places(stories)
                    issues.setdefault(("stories", intent, places), Issue(
                        stories[0].file, stories[0].line, UNSUPPORTED, (
                            f"stories answer {intent} in different ways after the same events ({places}): "
                            f"Rasa's memoization forgets such examples; Shopbot follows none of them there")))
    return list(issues.values()), followed


def _places(found: Sequence[Continuation]) -> str:
    return "; ".join(_unique([f"{c.where} → {', '.join(c.actions)}" for c in found]))


def _sequence_of(context: Sequence[Pattern]) -> tuple[Event, ...]:
    """A flow's context as a conversation would have lived it (an 'or' step: its first intent)."""
    return tuple((kind, names[0] if names else "") for kind, names in context)


def _history_of(seq: tuple[Event, ...]) -> History:
    """The history whose :meth:`History.sequence` is ``seq``."""
    if seq and seq[0][0] == START:
        return History(seq[1:])
    return History(seq, trimmed=True)


# --- Following a conversation -----------------------------------------------------------------------

class _Some:
    """Stands for "some value" where a flow names a slot without one (``slot_was_set: [name]``)."""

    def __repr__(self) -> str:
        return "<some value>"


_SOME = _Some()


def choose(
    candidates: Iterable[Continuation],
    intent: str,
    history: History,
    slots: Mapping[str, Any],
    specs: Mapping[str, Mapping[str, Any]],
    max_history: int | None = DEFAULT_MAX_HISTORY,
    active_loop: str | None = None,
) -> Continuation | None:
    """The continuation answering ``intent`` after ``history`` with these slots, or None.

    Rules first (RulePolicy outranks MemoizationPolicy): of those whose context ends the history
    (all of it, for ``conversation_start``) and whose stated slots and active loop hold (a rule
    stating no loop holds whatever form is active), the most specific; then
    story messages matching the longest stretch of the latest ``max_history - 1`` events (the
    message itself is the last of Rasa's ``max_history`` states). Several answering differently
    at the best level answer nothing (rules that disagree leave the message to the stories).
    """
    fit = [c for c in candidates
           if _names_fit(c.intents, intent) and all(slot_holds(s, slots, specs) for s in c.slots)
           and _loop_holds(c.loop, active_loop)]
    seq = history.sequence()
    rules = _rule_level([c for c in fit if c.kind == "rule"], seq)
    if rules and len({c.actions for c in rules}) == 1:
        return rules[0]
    stories = _story_level([c for c in fit if c.kind == "story"], seq, max_history)
    return stories[0] if stories and len({c.actions for c in stories}) == 1 else None


def choose_after_loop(
    candidates: Iterable[Continuation], slots: Mapping[str, Any], specs: Mapping[str, Mapping[str, Any]]
) -> Continuation | None:
    """What runs once a form is done (its submit rule, else a story's actions after it), or None.

    Of those whose stated slots hold, rules before stories, the ones stating the most slots; several
    that then disagree answer nothing.
    """
    fit = [c for c in candidates if all(slot_holds(s, slots, specs) for s in c.slots)]
    level = [c for c in fit if c.kind == "rule"] or fit
    if not level:
        return None
    top = max(len(c.slots) for c in level)
    best = [c for c in level if len(c.slots) == top]
    return best[0] if len({c.actions for c in best}) == 1 else None


def keep_events(continuations: Iterable[Continuation], max_history: int | None = DEFAULT_MAX_HISTORY) -> int:
    """How many of a conversation's latest events can still decide an answer: the longest context
    a rule needs, or a story within ``max_history``."""
    window = None if max_history is None else max(0, max_history - 1)
    longest = 0
    for c in continuations:
        events = sum(kind != START for kind, _ in c.context)
        longest = max(longest, events if c.kind == "rule" or window is None else min(events, window))
    return longest


def slot_holds(stated: SlotIs, values: Mapping[str, Any], specs: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether a slot holds what a flow states, compared as Rasa featurizes the slot's type.

    A text slot counts as set or not (its value is not featurized), a list as empty or not; a
    slot of type ``any`` or with ``influence_conversation: false`` is not seen by the policies.
    """
    spec = specs.get(stated.name) or {}
    kind = spec.get("type")
    if kind == "any" or spec.get("influence_conversation") is False:
        return True
    actual = values.get(stated.name)
    if stated.any_value:
        return bool(actual) if kind == "list" else actual is not None
    if kind == "text":
        return (actual is None) == (stated.value is None)
    if kind == "list":
        return bool(actual) == bool(stated.value)
    if actual == stated.value:
        return True
    # Rasa lower-cases categorical values; YAML may give true where an action set "true".
    if actual is None or stated.value is None:
        return False
    return str(actual).lower() == str(stated.value).lower()


def _rule_level(rules: Sequence[Continuation], seq: Sequence[Event]) -> list[Continuation]:
    """The matching rules of the highest specificity (context length, then slots stated)."""
    matched = [c for c in rules if _rule_fits(c, seq)]
    if not matched:
        return []
    top = max(_specificity(c) for c in matched)
    return [c for c in matched if _specificity(c) == top]


def _specificity(c: Continuation) -> tuple[int, int]:
    return len(c.context), len(c.slots) + (c.loop is not None)


def _rule_fits(rule: Continuation, seq: Sequence[Event]) -> bool:
    if rule.context and rule.context[0][0] == START and len(rule.context) != len(seq):
        return False
    return _ends_with(seq, rule.context)


def _story_level(stories: Sequence[Continuation], seq: Sequence[Event], max_history: int | None
                 ) -> list[Continuation]:
    """The story messages matching the longest stretch of the latest events within the window."""
    window = len(seq) if max_history is None else max(0, max_history - 1)
    for length in range(min(window, len(seq)), -1, -1):
        matched = [c for c in stories
                   if len(c.context) >= length and _ends_with(seq, c.context[len(c.context) - length:])]
        if matched:
            return matched
    return []


def _ends_with(seq: Sequence[Event], patterns: Sequence[Pattern]) -> bool:
    if len(patterns) > len(seq):
        return False
    return all(_fits(p, e) for p, e in zip(patterns, seq[len(seq) - len(patterns):], strict=True))


def _fits(pattern: Pattern, event: Event) -> bool:
    kind, names = pattern
    return kind == event[0] and (kind == START or _names_fit(names, event[1]))


def _names_fit(names: Sequence[str], name: str) -> bool:
    """``name`` is one of ``names``, or a retrieval intent or response of one (``chitchat/ask_name``)."""
    return name in names or name.split("/", 1)[0] in names


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --- Actions --------------------------------------------------------------------------------------

def check_actions(
    responses: Mapping[str, Any], custom: Iterable[str], forms: Iterable[str], actions_reachable: bool,
    broken_forms: Mapping[str, str] | None = None,
) -> Callable[[str], str | None]:
    """``cannot_run`` for :func:`resolve_flows`: why an action cannot run here, or None.

    ``forms`` are the forms that run; ``broken_forms`` the domain's others, with why not.
    """
    custom_actions, form_names, broken = frozenset(custom), frozenset(forms), dict(broken_forms or {})
    bases = {name.split("/", 1)[0] for name in responses if "/" in name}

    def cannot_run(action: str) -> str | None:
        if action in broken:
            return f"form {action} is not run: {broken[action]}"
        if action in form_names:
            return None
        if action.startswith("utter_"):
            return None if action in responses or action in bases else f"no response {action}"
        if action in RUNNABLE_DEFAULT_ACTIONS:
            return None
        if action in OTHER_DEFAULT_ACTIONS:
            return "Shopbot does not run this default action (two-stage fallback, undoing turns)"
        if action not in custom_actions:
            return "not in the domain's actions"
        if not actions_reachable:
            return "no action server in endpoints.yml and no actions package in the project"
        return None

    return cannot_run


__all__ = ["Issue", "Turn", "Flow", "Continuation", "History", "Resolved", "SlotIs", "LoopIs", "UNSUPPORTED",
           "CHANGED", "DEFAULT_MAX_HISTORY", "USER", "ACTION", "START", "DEACTIVATE_LOOP", "parse_flows",
           "resolve_flows", "choose", "choose_after_loop", "anywhere", "keep_events", "slot_holds",
           "check_actions", "RUNNABLE_DEFAULT_ACTIONS"]
