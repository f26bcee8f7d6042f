"""Answering from a Rasa project: the actions a message gets in its conversation, run as Rasa runs them.

A message's actions are those of the rule or story that continues the conversation so far
(:func:`next_actions`: Rasa's RulePolicy, then its memoization, over the conversation's tracker
kept with its slots), else the intent's answer wherever it comes, else the project's fallback.
They run in order: ``utter_*`` responses (a retrieval intent's own ``utter_<intent>``), the
project's custom actions (with the conversation's slots, the message and its payload entities;
their ``slot`` events, resets and follow-up actions honoured), and the default actions
``action_restart`` (slots and history start over), ``action_default_fallback`` (the history
forgets the message, as Rasa reverts it) and ``action_listen``. Declines answer with the
project's own fallback: its ``out_of_scope`` or ``nlu_fallback`` rule or story, else
``utter_default``, else a plain "please rephrase".
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from itertools import chain
from typing import Any

from actions.runner import tracker_state
from bot.engine.identity import CUSTOMER_ID, without_identity
from bot.engine.interfaces import HandlerResult, TurnContext
from bot.rasa.actions import ActionResult, ProjectActions
from bot.rasa.payload import parse_payload
from bot.rasa.responses import choose_variant, messages_of, render
from bot.rasa.slots import SlotStore, Tracker, apply_mappings, initial_values
from core.errors import ActionRejected
from core.messages import BotMessage
from core.turns import Route
from retrieval.rasa_flows import History, choose, keep_events
from retrieval.rasa_project import NLU_FALLBACK, OUT_OF_SCOPE, RasaProject

log = logging.getLogger(__name__)

# Rasa's own limit on actions predicted after one message (max_number_of_predictions).
MAX_ACTIONS = 10
FALLBACK = BotMessage(text="Sorry, I didn't get that. Could you say it another way?")
_QUIET_EVENTS = frozenset({"action", "user", "bot", "session_started", "user_featurization", "entities"})


def intent_routes(project: RasaProject, shop: Mapping[str, Route]) -> dict[str, Route]:
    """The policy's intent → route table: the project's intents answer from the project.

    The shop's answer-less intents keep their routes (a ``/handoff`` button still reaches a
    person) unless the project has an intent of that name; ``out_of_scope`` and project
    intents nothing answers, in any context, are declined.
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
    project: RasaProject, label: str, history: History, slots: Mapping[str, Any]
) -> tuple[str, ...] | None:
    """The actions answering ``label`` after ``history`` with these slot values, or None (the fallback).

    The rule or story message that continues the conversation (``retrieval/rasa_flows.py:
    choose``), else the intent's answer wherever it comes. A retrieval intent
    (``chitchat/ask_name``) is followed by its base intent's rules and stories too, answering
    from its own ``utter_chitchat/ask_name``.
    """
    candidates = project.continuations.get(label, ())
    base = label.split("/", 1)[0]
    if base != label and label in project.turns:
        candidates = (*candidates, *project.continuations.get(base, ()))
    chosen = choose(candidates, label, history, slots, project.slots, project.max_history)
    if chosen is None:
        return project.turns.get(label)
    if base == label:
        return chosen.actions
    return tuple(f"utter_{label}" if a == f"utter_{base}" else a for a in chosen.actions)


class RasaResponder:
    """Runs a project's turns; one per application, shared by every conversation."""

    def __init__(self, project: RasaProject, slots: SlotStore, actions: ProjectActions | None,
                 rng: random.Random | None = None) -> None:
        self.project = project
        # Each conversation's tracker: slot values and latest events.
        self.slots = slots
        self.actions = actions
        self.rng = rng or random.Random()
        self._initial = initial_values(project.slots)
        # As many events as any rule or story can look back on (Rasa's max_history for stories).
        self._keep = keep_events(chain.from_iterable(project.continuations.values()), project.max_history)

    def intent_routes(self, shop: Mapping[str, Route]) -> dict[str, Route]:
        """The policy's intent → route table for this project (:func:`intent_routes`)."""
        return intent_routes(self.project, shop)

    def handles(self, label: str) -> bool:
        """Whether the project answers ``label`` (an intent a rule or story answers somewhere)."""
        return answers(self.project, label) and label != OUT_OF_SCOPE

    async def answer(self, ctx: TurnContext) -> HandlerResult:
        """Run what the decided intent gets in its conversation; out of every context it answers
        in, the project's fallback (not answered)."""
        return await self._run(ctx, declined=False)

    async def decline(self, ctx: TurnContext) -> HandlerResult:
        """The project's fallback for a message nothing answers."""
        return await self._run(ctx, declined=True)

    def _fallback(
        self, label: str, values: Mapping[str, Any], history: History
    ) -> tuple[str, tuple[str, ...]]:
        """The intent the fallback answers as (what the history records) and its actions."""
        if label == OUT_OF_SCOPE:
            own = next_actions(self.project, OUT_OF_SCOPE, history, values)
            if own:
                return OUT_OF_SCOPE, own
        return NLU_FALLBACK, next_actions(self.project, NLU_FALLBACK, history, values) or (
            "action_default_fallback",)

    async def _run(self, ctx: TurnContext, declined: bool) -> HandlerResult:
        label = ctx.decision.label
        payload = parse_payload(ctx.text)
        entities = payload.as_rasa() if payload is not None else []
        tracker = await self.slots.get(ctx.conversation_id) or Tracker()
        values = {**self._initial, **tracker.slots}
        # Slots are filled from the message before the next action is chosen (Rasa's action_extract_slots).
        values = apply_mappings(self.project.slots, values, label, entities, ctx.text)
        actions = None if declined else next_actions(self.project, label, tracker.history, values)
        answered, said = actions is not None, label
        if actions is None:
            said, actions = self._fallback(label, values, tracker.history)
        messages: list[BotMessage] = []
        queue, action_ms, restarted = list(actions), 0.0, False
        done: list[str] = []
        while queue and len(done) < MAX_ACTIONS:
            name = queue.pop(0)
            done.append(name)
            if name.startswith("utter_"):
                messages += self._utter(name, values)
            elif name == "action_restart":
                values, restarted = dict(self._initial), True
            elif name == "action_default_fallback":
                messages += self._utter("utter_default", values) or [FALLBACK]
            elif name not in ("action_listen", "action_session_start"):
                start = time.perf_counter()
                result = await self._custom(name, ctx, label, values, entities)
                action_ms += (time.perf_counter() - start) * 1000
                messages += self._responses(result, values)
                values, followups, reset = self._events(result, values)
                restarted = restarted or reset
                queue[:0] = followups
        if queue:
            log.warning("turn of %s stopped after %d actions", label, MAX_ACTIONS)
        # A restart wipes the tracker: the next message starts the conversation again. Rasa's
        # action_default_fallback reverts the message it answers (UserUtteranceReverted): the
        # conversation goes on from where it was (slots keep what the message filled, as before).
        ran = [a for a in done if a not in ("action_listen", "action_session_start")]
        if restarted:
            history = History()
        elif "action_default_fallback" in ran:
            history = tracker.history
        else:
            history = tracker.history.after(said, ran, self._keep)
        await self.slots.put(ctx.conversation_id, Tracker(values, history))
        return HandlerResult(
            tuple(messages), ctx.slots, answered=answered,
            evidence=tuple(m.text for m in messages if m.text),
            latency_ms={"action": action_ms} if action_ms else {},
        )

    def _utter(self, name: str, values: Mapping[str, Any]) -> list[BotMessage]:
        variant = choose_variant(self.project.responses.get(name, ()), values, self.rng)
        return [] if variant is None else messages_of(render(variant, values))

    async def _custom(self, name: str, ctx: TurnContext, label: str, values: dict[str, Any],
                      entities: list[dict[str, Any]]) -> ActionResult:
        if self.actions is None:
            raise ActionRejected(f"action {name!r}: the project has no action server and no actions package")
        # Actions see a customer id only when the shop signed it; never the token itself.
        metadata = {**without_identity(ctx.metadata),
                    **({CUSTOMER_ID: ctx.customer_id} if ctx.customer_id else {})}
        tracker = tracker_state(ctx.conversation_id, values, ctx.text, label, entities, metadata)
        return await self.actions.run(name, tracker, dict(self.project.domain))

    def _responses(self, result: ActionResult, values: Mapping[str, Any]) -> list[BotMessage]:
        """Messages from an action's responses; one naming a domain response is rendered from it."""
        out: list[BotMessage] = []
        for response in result.responses:
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

    def _events(
        self, result: ActionResult, values: dict[str, Any]
    ) -> tuple[dict[str, Any], list[str], bool]:
        """Slot values after the action's events, the follow-up actions it asked for, and whether
        it restarted the conversation."""
        out, followups, restarted = dict(values), [], False
        for event in result.events:
            kind = event.get("event")
            if kind == "slot":
                name = str(event.get("name"))
                if name in self._initial:
                    out[name] = event.get("value")
                else:
                    log.warning("an action set slot %s, which the domain does not declare", name)
            elif kind in ("reset_slots", "restart"):
                out = dict(self._initial)
                restarted = restarted or kind == "restart"
            elif kind == "action_execution_rejected":
                raise ActionRejected(f"action {event.get('name')!r} rejected its execution")
            elif kind == "followup" and event.get("name"):
                followups.append(str(event["name"]))
            elif kind not in _QUIET_EVENTS:
                log.warning("event %s from an action is not supported; ignored", kind)
        return out, followups, restarted


__all__ = ["RasaResponder", "FALLBACK", "MAX_ACTIONS", "intent_routes", "answers", "next_actions"]
