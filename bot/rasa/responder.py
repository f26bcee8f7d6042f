"""Answering from a Rasa project: the actions a message gets in its conversation, run as Rasa runs them.

A message first fills slots from its intent, its entities (a button payload's, or the project's
entity extractor's) and the text (``bot/rasa/slots.py: extract_slots``). While a form is active it
runs first (``bot/rasa/forms.py``): it validates what the message filled and asks for the next
slot, or, done, hands over to its submit rule; a message it can use nothing of is answered by the
rules and stories instead (an interruption), as Rasa rejects the form there. Otherwise a message's
actions are those of the rule or story that continues the conversation so far
(:func:`next_actions`: Rasa's RulePolicy, then its memoization, over the conversation's tracker
kept with its slots), else the intent's answer wherever it comes, else the project's fallback.
They run in order: ``utter_*`` responses (a retrieval intent's own ``utter_<intent>``), forms
(activated, or asking again after an interruption), the project's custom actions (with the
conversation's slots, active loop, the message and its entities; their ``slot`` events, resets,
follow-up actions, active loops and reminders honoured), and the default actions
``action_restart`` (slots and history start over), ``action_default_fallback`` (the history
forgets the message, as Rasa reverts it), ``action_deactivate_loop`` and ``action_listen``.
Declines answer with the project's own fallback: its ``out_of_scope`` or ``nlu_fallback`` rule or
story, else ``utter_default``, else a plain "please rephrase".
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from actions.runner import tracker_state
from bot.engine.identity import CUSTOMER_ID, without_identity
from bot.engine.interfaces import HandlerResult, TurnContext
from bot.rasa.actions import ActionResult, ProjectActions
from bot.rasa.forms import FormLoop, FormStep, Validate
from bot.rasa.payload import parse_payload
from bot.rasa.ports import EntityExtractor, ReminderBook
from bot.rasa.responses import choose_variant, messages_of, render
from bot.rasa.slots import SlotStore, Tracker, extract_slots, initial_values
from core.errors import ActionRejected, BadRequest
from core.messages import BotMessage
from core.ratelog import RateLimitedLog
from core.turns import Route
from retrieval.rasa_flows import (
    ACTION,
    DEACTIVATE_LOOP,
    RUNNABLE_DEFAULT_ACTIONS,
    History,
    anywhere,
    choose,
    choose_after_loop,
    keep_events,
)
from retrieval.rasa_project import NLU_FALLBACK, OUT_OF_SCOPE, REQUESTED_SLOT, RasaProject

log = logging.getLogger(__name__)
_rare = RateLimitedLog(log, 60.0)

# Rasa's own limit on actions predicted after one message (max_number_of_predictions).
MAX_ACTIONS = 10
FALLBACK = BotMessage(text="Sorry, I didn't get that. Could you say it another way?")
_QUIET_EVENTS = frozenset({"action", "user", "bot", "session_started", "user_featurization", "entities",
                           "loop_interrupted"})
_SILENT = frozenset({"action_listen", "action_session_start"})


def intent_routes(project: RasaProject, shop: Mapping[str, Route]) -> dict[str, Route]:
    """The policy's intent → route table: the project's intents answer from the project.

    The shop's answer-less intents keep their routes (a ``/handoff`` button still reaches a
    person) unless the project has an intent of that name; ``out_of_scope`` and project
    intents nothing answers, in any context, are declined (a form still fills from them).
    """
    labels = project.labels
    routes = {name: route for name, route in shop.items()
              if name not in labels and not answers(project, name)}
    routes[OUT_OF_SCOPE] = Route.DECLINE
    routes.update({label: Route.DECLINE for label in labels if not answers(project, label)})
    return routes


def answers(project: RasaProject, label: str) -> bool:
    """Whether a rule or story of the project answers ``label`` somewhere."""
    return label in project.turns or label in project.continuations


def next_actions(
    project: RasaProject, label: str, history: History, slots: Mapping[str, Any],
    active_loop: str | None = None,
) -> tuple[str, ...] | None:
    """The actions answering ``label`` after ``history`` with these slot values and this active
    loop, or None (the fallback).

    The rule or story message that continues the conversation (``retrieval/rasa_flows.py:
    choose``), else the intent's answer wherever it comes. A retrieval intent
    (``chitchat/ask_name``) is followed by its base intent's rules and stories too, answering
    from its own ``utter_chitchat/ask_name``.
    """
    candidates = project.continuations.get(label, ())
    base = label.split("/", 1)[0]
    if base != label and label in project.turns:
        candidates = (*candidates, *project.continuations.get(base, ()))
    chosen = choose(candidates, label, history, slots, project.slots, project.max_history, active_loop)
    if chosen is not None:
        actions: tuple[str, ...] | None = chosen.actions
    elif active_loop is None:
        return project.turns.get(label)
    else:
        # While a form is active, the answers anywhere that do not need it inactive.
        actions = anywhere(candidates, active_loop)
        if actions is None:
            return project.turns.get(label) if base != label else None
    if base == label:
        return actions
    return tuple(f"utter_{label}" if a == f"utter_{base}" else a for a in actions or ())


@dataclass
class _Turn:
    """What one message (or one action run from outside) has done so far."""

    conversation_id: str
    text: str
    intent: str
    entities: list[dict[str, Any]]
    metadata: dict[str, Any]
    values: dict[str, Any]
    loop: str | None
    messages: list[BotMessage] = field(default_factory=list)
    # The actions run, in order, as the history records them (a form's questions are its own).
    done: list[str] = field(default_factory=list)
    action_ms: float = 0.0
    restarted: bool = False
    # The form this message completed, if any.
    completed: str | None = None


class RasaResponder:
    """Runs a project's turns; one per application, shared by every conversation."""

    def __init__(self, project: RasaProject, slots: SlotStore, actions: ProjectActions | None,
                 rng: random.Random | None = None, *, extractor: EntityExtractor | None = None,
                 reminders: ReminderBook | None = None) -> None:
        self.project = project
        # Each conversation's tracker: slot values, latest events and active loop.
        self.slots = slots
        self.actions = actions
        self.rng = rng or random.Random()
        # Entities from typed text (button payloads carry their own) and where reminders live.
        self.extractor = extractor
        self.reminders = reminders
        self._initial = initial_values(project.slots)
        # As many events as any rule or story can look back on (Rasa's max_history for stories).
        self._keep = keep_events(chain.from_iterable(project.continuations.values()), project.max_history)
        custom = {str(next(iter(a))) if isinstance(a, dict) and a else str(a)
                  for a in project.domain.get("actions") or []}
        self._forms = {name: FormLoop(form, project.responses, custom)
                       for name, form in project.forms.items()}
        self._runnable = frozenset(custom) | frozenset(project.responses) | frozenset(self._forms) | \
            RUNNABLE_DEFAULT_ACTIONS

    def intent_routes(self, shop: Mapping[str, Route]) -> dict[str, Route]:
        """The policy's intent → route table for this project (:func:`intent_routes`)."""
        return intent_routes(self.project, shop)

    def handles(self, label: str) -> bool:
        """Whether the project answers ``label`` (an intent a rule or story answers somewhere)."""
        return answers(self.project, label) and label != OUT_OF_SCOPE

    async def active_loop(self, conversation_id: str) -> str | None:
        """The form active in the conversation (every message goes to it first), or None."""
        tracker = await self.slots.get(conversation_id)
        return None if tracker is None else tracker.active_loop

    async def answer(self, ctx: TurnContext) -> HandlerResult:
        """Run what the decided intent gets in its conversation; out of every context it answers
        in, the project's fallback (not answered)."""
        return await self._run(ctx, declined=False)

    async def decline(self, ctx: TurnContext) -> HandlerResult:
        """The project's fallback for a message nothing answers (an active form may still use it)."""
        return await self._run(ctx, declined=True)

    async def execute(self, conversation_id: str, action: str, metadata: Mapping[str, Any] | None = None
                      ) -> tuple[BotMessage, ...]:
        """Run one named action in the conversation, as Rasa's ``POST /conversations/{id}/execute``
        does, and return what it said.

        The action runs with the conversation's slots and active loop, its events are honoured
        (slots, follow-ups, forms, reminders) and it joins the conversation's history; no user
        message comes with it. The caller holds the conversation's lock, as for a message.
        ``metadata`` reaches a custom action as the latest message's; an action the project does
        not have is a ``BadRequest``.
        """
        if action not in self._runnable:
            raise BadRequest(f"the project has no action {action!r}")
        tracker = await self.slots.get(conversation_id) or Tracker()
        turn = _Turn(conversation_id, "", "", [], without_identity(dict(metadata or {})),
                     {**self._initial, **tracker.slots}, tracker.active_loop)
        await self._execute(turn, [action])
        history = History() if turn.restarted else tracker.history.then(
            [a for a in turn.done if a not in _SILENT], self._keep)
        await self.slots.put(conversation_id, Tracker(turn.values, history.with_loop(turn.loop)))
        return tuple(turn.messages)

    def _fallback(
        self, label: str, values: Mapping[str, Any], history: History, loop: str | None
    ) -> tuple[str, tuple[str, ...]]:
        """The intent the fallback answers as (what the history records) and its actions."""
        if label == OUT_OF_SCOPE:
            own = next_actions(self.project, OUT_OF_SCOPE, history, values, loop)
            if own:
                return OUT_OF_SCOPE, own
        return NLU_FALLBACK, next_actions(self.project, NLU_FALLBACK, history, values, loop) or (
            "action_default_fallback",)

    async def _run(self, ctx: TurnContext, declined: bool) -> HandlerResult:
        label = ctx.decision.label
        entities = await self._entities(ctx.text)
        if self.reminders is not None:
            await self.reminders.user_spoke(ctx.conversation_id)
        tracker = await self.slots.get(ctx.conversation_id) or Tracker()
        history = tracker.history
        loop = tracker.active_loop if tracker.active_loop in self._forms else None
        values = {**self._initial, **tracker.slots}
        # Slots are filled from the message before the next action is chosen (Rasa's action_extract_slots).
        extracted = extract_slots(self.project.slots, values, label, entities, ctx.text,
                                  active_loop=loop, forms=self.project.forms)
        # Actions see a customer id only when the shop signed it; never the token itself.
        metadata = {**without_identity(ctx.metadata),
                    **({CUSTOMER_ID: ctx.customer_id} if ctx.customer_id else {})}
        turn = _Turn(ctx.conversation_id, ctx.text, label, entities, metadata, {**values, **extracted}, loop)
        answered, said, queue, happy = True, label, [], False
        if loop is not None:
            # The active form takes the message first (Rasa's RulePolicy predicts the loop).
            step = await self._forms[loop].fill(turn.values, extracted, self._validator(turn))
            happy = not step.rejected
            if happy:
                queue = await self._after_form(turn, loop, step)
        if not happy:
            actions = None if declined else next_actions(self.project, label, history, turn.values, loop)
            answered = actions is not None
            if actions is None:
                said, actions = self._fallback(label, turn.values, history, loop)
            queue = list(actions)
        await self._execute(turn, queue)
        # A restart wipes the tracker: the next message starts the conversation again. Rasa's
        # action_default_fallback reverts the message it answers (UserUtteranceReverted): the
        # conversation goes on from where it was (slots keep what the message filled, as before).
        # A message a form used is not recorded (Rasa's stories leave the form's own turns out);
        # when it completed the form, what ran after it is.
        ran = [a for a in turn.done if a not in _SILENT]
        if turn.restarted:
            history = History()
        elif "action_default_fallback" in ran:
            pass
        elif happy:
            if turn.completed is not None and history.events[-1:] != ((ACTION, turn.completed),):
                ran.insert(0, turn.completed)
            history = history.then(ran, self._keep)
        else:
            history = history.after(said, ran, self._keep)
        await self.slots.put(ctx.conversation_id, Tracker(turn.values, history.with_loop(turn.loop)))
        return HandlerResult(
            tuple(turn.messages), ctx.slots, answered=answered,
            evidence=tuple(m.text for m in turn.messages if m.text),
            latency_ms={"action": turn.action_ms} if turn.action_ms else {},
        )

    async def _entities(self, text: str) -> list[dict[str, Any]]:
        """A payload's entities, else the extractor's on the typed text (off the event loop)."""
        payload = parse_payload(text)
        if payload is not None:
            return payload.as_rasa()
        if self.extractor is None or not text.strip():
            return []
        try:
            found = await asyncio.to_thread(self.extractor.run, text)
        except Exception as err:  # noqa: BLE001 - a failing model costs the entities, not the answer
            _rare.warning("extractor", "entity extraction failed (%s); the message goes on without entities",
                          type(err).__name__)
            return []
        return [dict(e) for e in found]

    async def _execute(self, turn: _Turn, queue: list[str]) -> None:
        """Run ``queue`` and what it leads to (follow-ups, forms' submit rules), MAX_ACTIONS at most."""
        while queue and len(turn.done) < MAX_ACTIONS:
            name = queue.pop(0)
            turn.done.append(name)
            if name in self._forms:
                after = await self._after_form(turn, name, await self._run_form(turn, name))
                if turn.loop == name:
                    queue.clear()  # the form waits for the user's answer
                elif not queue:
                    queue[:] = after
            elif name.startswith("utter_"):
                turn.messages += self._utter(name, turn.values)
            elif name == "action_restart":
                await self._restart(turn)
            elif name == "action_default_fallback":
                turn.messages += self._utter("utter_default", turn.values) or [FALLBACK]
            elif name == DEACTIVATE_LOOP:
                turn.loop = None
                turn.values[REQUESTED_SLOT] = None
            elif name not in _SILENT:
                queue[:0] = await self._custom(turn, name)
        if queue:
            log.warning("turn of %s stopped after %d actions", turn.intent, MAX_ACTIONS)

    async def _run_form(self, turn: _Turn, name: str) -> FormStep:
        """A form named by a rule, story or action: activated, or asking again after an interruption."""
        form = self._forms[name]
        if turn.loop == name:
            return form.resume(turn.values)
        turn.loop = name
        turn.values[REQUESTED_SLOT] = None
        # Activation extracts again with the form active: its conditioned mappings apply to this message.
        turn.values.update(extract_slots(self.project.slots, turn.values, turn.intent, turn.entities,
                                         turn.text, active_loop=name, forms=self.project.forms))
        return await form.activate(turn.values, self._validator(turn))

    async def _after_form(self, turn: _Turn, name: str, step: FormStep) -> list[str]:
        """Take a form's step: what its validation said, then its question, or, done, the actions
        of its submit rule (returned, to run next)."""
        turn.values = step.values
        turn.messages += self._responses(step.responses, turn.values)
        await self._events(turn, step.events)
        if step.active:
            turn.loop = name
            if step.ask is not None:
                await self._ask(turn, step.ask)
            return []
        turn.loop, turn.completed = None, name
        chosen = choose_after_loop(self.project.after_loop.get(name, ()), turn.values, self.project.slots)
        return list(chosen.actions) if chosen is not None else []

    async def _ask(self, turn: _Turn, name: str) -> None:
        if name.startswith("utter_"):
            asked = self._utter(name, turn.values)
            if not asked:
                _rare.warning(f"ask:{name}", "a form asks with %s, which the project lacks", name)
            turn.messages += asked
        else:
            followups = await self._custom(turn, name)
            if followups:
                log.warning("follow-up actions of %s, which asks for a slot, are not run", name)

    def _validator(self, turn: _Turn) -> Validate:
        """Calls the active form's ``validate_<form>`` with the slots to validate last in the tracker."""

        async def validate(values: Mapping[str, Any], candidates: Mapping[str, Any]) -> ActionResult:
            return await self._call(turn, f"validate_{turn.loop}", {**values, **candidates}, dict(candidates))

        return validate

    async def _custom(self, turn: _Turn, name: str) -> list[str]:
        """Run a custom action; what it said joins the turn, its events are applied; returns its
        follow-up actions."""
        result = await self._call(turn, name, turn.values, None)
        turn.messages += self._responses(result.responses, turn.values)
        return await self._events(turn, result.events)

    async def _call(self, turn: _Turn, name: str, values: Mapping[str, Any],
                    validating: dict[str, Any] | None) -> ActionResult:
        if self.actions is None:
            raise ActionRejected(f"action {name!r}: the project has no action server and no actions package")
        tracker = tracker_state(turn.conversation_id, dict(values), turn.text, turn.intent, turn.entities,
                                turn.metadata, active_loop=turn.loop, validating=validating)
        start = time.perf_counter()
        try:
            return await self.actions.run(name, tracker, dict(self.project.domain))
        finally:
            turn.action_ms += (time.perf_counter() - start) * 1000

    def _utter(self, name: str, values: Mapping[str, Any]) -> list[BotMessage]:
        variant = choose_variant(self.project.responses.get(name, ()), values, self.rng)
        return [] if variant is None else messages_of(render(variant, values))

    def _responses(
        self, responses: tuple[dict[str, Any], ...], values: Mapping[str, Any]
    ) -> list[BotMessage]:
        """Messages from an action's responses; one naming a domain response is rendered from it."""
        out: list[BotMessage] = []
        for response in responses:
            given = dict(response)
            name = given.pop("response", None) or given.pop("template", None)
            given.pop("template", None)
            draft: dict[str, Any] = {}
            if name:
                variant = choose_variant(self.project.responses.get(str(name), ()), values, self.rng)
                if variant is None:
                    log.warning("action asked for response %s, which the project lacks", name)
                    continue
                draft = render(variant, {**values, **given})
            buttons = given.pop("buttons", None) or []
            if buttons:
                draft["buttons"] = [*(draft.get("buttons") or []), *buttons]
            draft.update({k: v for k, v in given.items() if v})
            out += messages_of(draft)
        return out

    async def _restart(self, turn: _Turn) -> None:
        """The conversation starts over: slots, active loop, history, and (as Rasa drops reminders
        no longer in the tracker) its reminders."""
        turn.values, turn.loop, turn.restarted = dict(self._initial), None, True
        if self.reminders is not None:
            await self.reminders.cancel(turn.conversation_id, {"event": "cancel_reminder"})

    async def _events(self, turn: _Turn, events: tuple[dict[str, Any], ...]) -> list[str]:
        """Apply an action's events to the turn; returns the follow-up actions it asked for."""
        followups: list[str] = []
        for event in events:
            kind = event.get("event")
            if kind == "slot":
                name = str(event.get("name"))
                if name in self._initial:
                    turn.values[name] = event.get("value")
                else:
                    log.warning("an action set slot %s, which the domain does not declare", name)
            elif kind == "restart":
                await self._restart(turn)
            elif kind == "reset_slots":
                turn.values = dict(self._initial)
            elif kind == "active_loop":
                loop = event.get("name")
                turn.loop = str(loop) if loop in self._forms else None
                if loop is not None and loop not in self._forms:
                    log.warning("an action activated %s, which is not one of the project's forms", loop)
                if turn.loop is None:
                    turn.values[REQUESTED_SLOT] = None
            elif kind == "action_execution_rejected":
                raise ActionRejected(f"action {event.get('name')!r} rejected its execution")
            elif kind == "followup" and event.get("name"):
                followups.append(str(event["name"]))
            elif kind == "reminder" and self.reminders is not None:
                await self.reminders.schedule(turn.conversation_id, event)
            elif kind == "cancel_reminder" and self.reminders is not None:
                await self.reminders.cancel(turn.conversation_id, event)
            elif kind not in _QUIET_EVENTS:
                log.warning("event %s from an action is not supported; ignored", kind)
        return followups


__all__ = ["RasaResponder", "FALLBACK", "MAX_ACTIONS", "intent_routes", "answers", "next_actions"]
