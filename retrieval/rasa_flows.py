"""Rasa rules and stories reduced to what Shopbot runs: one user message, the actions answering it.

A rule with one user message, or a story's message answered the same way wherever it appears,
becomes a *turn* (intent → actions). Everything else is reported as an :class:`Issue` with its
file and line: what Shopbot drops (``unsupported``) and what it runs differently (``changed``).
Shopbot keeps no dialogue context, so a multi-turn story runs one message at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import BadRequest
from retrieval.rasa_yaml import YamlMap, line_of

UNSUPPORTED = "unsupported"
CHANGED = "changed"

# Default actions a turn may hold; every other default action needs dialogue state Shopbot lacks.
RUNNABLE_DEFAULT_ACTIONS = frozenset({
    "action_listen", "action_restart", "action_session_start", "action_default_fallback",
})
OTHER_DEFAULT_ACTIONS = frozenset({
    "action_deactivate_loop", "action_revert_fallback_events", "action_default_ask_affirmation",
    "action_default_ask_rephrase", "action_two_stage_fallback", "action_unlikely_intent",
    "action_back", "action_extract_slots",
})


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
class Turn:
    """One user message of a rule or story (one or more intents) and the actions answering it."""

    intents: tuple[str, ...]
    actions: tuple[str, ...]
    file: str
    line: int

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
    notes: tuple[str, ...] = ()


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
    notes: list[str] = []
    if kind == "rule":
        if item.get("condition"):
            blockers.append(f"its condition (line {_key_line(item, 'condition')}) needs dialogue state")
        if item.get("wait_for_user_input") is False:
            blockers.append("wait_for_user_input: false chains it to other rules")
        if item.get("conversation_start"):
            notes.append("conversation_start: it answers at any point of a conversation, not only the first")
    steps = item.get("steps")
    if not isinstance(steps, list):
        return Flow(kind, name, file, line, (), (*blockers, "it has no steps"))
    turns, step_blockers = _turns(steps, file)
    return Flow(kind, name, file, line, turns, (*blockers, *step_blockers), tuple(notes))


def _key_line(item: Any, key: str) -> int:
    return item.line_of(key) if isinstance(item, YamlMap) else line_of(item)


def _turns(steps: list[Any], file: str) -> tuple[tuple[Turn, ...], list[str]]:
    turns: list[Turn] = []
    blockers: list[str] = []
    intents: tuple[str, ...] = ()
    actions: list[str] = []
    start = 0

    def close() -> None:
        if intents:
            turns.append(Turn(intents, tuple(a for a in actions if a != "action_listen"), file, start))

    for step in steps:
        at = line_of(step)
        if not isinstance(step, dict):
            blockers.append(f"line {at}: a step must be a mapping")
            continue
        if "intent" in step or "or" in step or "user" in step:
            close()
            intents, actions, start = _user_step(step, at, blockers), [], at
        elif "action" in step:
            if not intents:
                blockers.append(f"line {at}: action {step['action']} runs before any user message")
            actions.append(str(step["action"]))
        elif "slot_was_set" in step:
            # After an action it records what the action set; before one it is a condition.
            if not actions:
                blockers.append(f"line {at}: slot_was_set is a condition on dialogue state")
        elif "active_loop" in step:
            blockers.append(f"line {at}: active_loop (forms are not supported)")
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


def resolve_turns(
    flows: Iterable[Flow], cannot_run: Callable[[str], str | None]
) -> tuple[dict[str, Turn], list[Issue]]:
    """Each intent's answer (rules before stories) and every issue met on the way.

    ``cannot_run(action)`` says why an action cannot run here, or None when it can.
    """
    issues: list[Issue] = []
    rules: dict[str, list[Turn]] = {}
    stories: dict[str, list[Turn]] = {}
    for flow in flows:
        reasons = list(flow.blockers)
        reasons += [f"action {a}: {why}" for t in flow.turns for a in t.actions
                    if (why := cannot_run(a)) is not None]
        if flow.kind == "rule" and not reasons and len(flow.turns) != 1:
            reasons.append(f"it has {len(flow.turns)} user messages; a rule Shopbot runs has one")
        if reasons:
            issues.append(Issue(flow.file, flow.line, UNSUPPORTED,
                                f"{flow.kind} '{flow.name}' is not run: {'; '.join(_unique(reasons))}"))
            continue
        issues += [Issue(flow.file, flow.line, CHANGED, f"{flow.kind} '{flow.name}': {note}")
                   for note in flow.notes]
        if flow.kind == "story" and len(flow.turns) > 1:
            issues.append(Issue(flow.file, flow.line, CHANGED, (
                f"story '{flow.name}' has {len(flow.turns)} user messages: Shopbot keeps no dialogue "
                f"context, so each is answered on its own ({_describe(flow.turns)})")))
        into = rules if flow.kind == "rule" else stories
        for turn in flow.turns:
            if turn.actions:
                for intent in turn.intents:
                    into.setdefault(intent, []).append(turn)
    chosen: dict[str, Turn] = {}
    for intent, found in rules.items():
        agreed = _agreed(intent, found, "rules", issues)
        if agreed is not None:
            chosen[intent] = agreed
    for intent, found in stories.items():
        rule = chosen.get(intent)
        if rule is not None:
            issues += [Issue(t.file, t.line, CHANGED, (
                f"this story answers {intent} with {', '.join(t.actions)}; the rule at {rule.where} wins"))
                for t in found if t.actions != rule.actions]
        elif intent not in rules:
            agreed = _agreed(intent, found, "stories", issues)
            if agreed is not None:
                chosen[intent] = agreed
    return chosen, issues


def _agreed(intent: str, found: list[Turn], what: str, issues: list[Issue]) -> Turn | None:
    answers = {t.actions for t in found}
    if len(answers) == 1:
        return found[0]
    places = "; ".join(f"{t.where} → {', '.join(t.actions)}" for t in found)
    first = found[0]
    issues.append(Issue(first.file, first.line, UNSUPPORTED, (
        f"{what} answer {intent} in different ways depending on earlier messages ({places}); "
        f"Shopbot keeps no dialogue context, so {intent} gets the fallback")))
    return None


def _describe(turns: Iterable[Turn]) -> str:
    return "; ".join(f"{' or '.join(t.intents)} → {', '.join(t.actions) or 'nothing'}" for t in turns)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def check_actions(
    responses: Mapping[str, Any], custom: Iterable[str], forms: Iterable[str], actions_reachable: bool
) -> Callable[[str], str | None]:
    """``cannot_run`` for :func:`resolve_turns`: why an action cannot run here, or None."""
    custom_actions, form_names = frozenset(custom), frozenset(forms)
    bases = {name.split("/", 1)[0] for name in responses if "/" in name}

    def cannot_run(action: str) -> str | None:
        if action in form_names:
            return "forms are not supported"
        if action.startswith("utter_"):
            return None if action in responses or action in bases else f"no response {action}"
        if action in RUNNABLE_DEFAULT_ACTIONS:
            return None
        if action in OTHER_DEFAULT_ACTIONS:
            return "this default action needs dialogue state Shopbot does not keep"
        if action not in custom_actions:
            return "not in the domain's actions"
        if not actions_reachable:
            return "no action server in endpoints.yml and no actions package in the project"
        return None

    return cannot_run


__all__ = ["Issue", "Turn", "Flow", "UNSUPPORTED", "CHANGED", "parse_flows", "resolve_turns",
           "check_actions", "RUNNABLE_DEFAULT_ACTIONS"]
