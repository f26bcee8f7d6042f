"""Answering from a Rasa project: the actions of an intent's turn, run as Rasa would run them.

A turn's actions run in order: ``utter_*`` responses (a retrieval intent's own
``utter_<intent>``), the project's custom actions (with the conversation's slots, the message
and its payload entities; their ``slot`` events, resets and follow-up actions honoured), and
the default actions ``action_restart``, ``action_default_fallback`` and ``action_listen``.
Declines answer with the project's own fallback: its ``out_of_scope`` or ``nlu_fallback`` turn,
else ``utter_default``, else a plain "please rephrase".
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from actions.runner import tracker_state
from bot.engine.identity import CUSTOMER_ID, without_identity
from bot.engine.interfaces import HandlerResult, TurnContext
from bot.rasa.actions import ActionResult, ProjectActions
from bot.rasa.payload import parse_payload
from bot.rasa.responses import choose_variant, messages_of, render
from bot.rasa.slots import SlotStore, apply_mappings, initial_values
from core.errors import ActionRejected
from core.messages import BotMessage
from core.turns import Route
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
    intents nothing answers are declined.
    """
    labels, turns = project.labels, project.turns
    routes = {name: route for name, route in shop.items() if name not in labels and name not in turns}
    routes[OUT_OF_SCOPE] = Route.DECLINE
    routes.update({label: Route.DECLINE for label in labels if label not in turns})
    return routes


class RasaResponder:
    """Runs a project's turns; one per application, shared by every conversation."""

    def __init__(self, project: RasaProject, slots: SlotStore, actions: ProjectActions | None,
                 rng: random.Random | None = None) -> None:
        self.project = project
        self.slots = slots
        self.actions = actions
        self.rng = rng or random.Random()
        self._initial = initial_values(project.slots)

    def intent_routes(self, shop: Mapping[str, Route]) -> dict[str, Route]:
        """The policy's intent → route table for this project (:func:`intent_routes`)."""
        return intent_routes(self.project, shop)

    def handles(self, label: str) -> bool:
        """Whether the project answers ``label`` (an intent with a turn)."""
        return label in self.project.turns and label != OUT_OF_SCOPE

    async def answer(self, ctx: TurnContext) -> HandlerResult:
        """Run the turn of the decided intent."""
        return await self._run(ctx, self.project.turns[ctx.decision.label])

    async def decline(self, ctx: TurnContext) -> HandlerResult:
        """The project's fallback for a message nothing answers."""
        turns = self.project.turns
        actions = (turns.get(OUT_OF_SCOPE) if ctx.decision.label == OUT_OF_SCOPE else None) or turns.get(
            NLU_FALLBACK) or ("action_default_fallback",)
        return replace(await self._run(ctx, actions), answered=False)

    async def _run(self, ctx: TurnContext, actions: tuple[str, ...]) -> HandlerResult:
        label = ctx.decision.label
        payload = parse_payload(ctx.text)
        entities = payload.as_rasa() if payload is not None else []
        values = {**self._initial, **(await self.slots.get(ctx.conversation_id) or {})}
        values = apply_mappings(self.project.slots, values, label, entities, ctx.text)
        messages: list[BotMessage] = []
        queue, ran, action_ms = list(actions), 0, 0.0
        while queue and ran < MAX_ACTIONS:
            name, ran = queue.pop(0), ran + 1
            if name.startswith("utter_"):
                messages += self._utter(name, values)
            elif name == "action_restart":
                values = dict(self._initial)
            elif name == "action_default_fallback":
                messages += self._utter("utter_default", values) or [FALLBACK]
            elif name not in ("action_listen", "action_session_start"):
                start = time.perf_counter()
                result = await self._custom(name, ctx, label, values, entities)
                action_ms += (time.perf_counter() - start) * 1000
                messages += self._responses(result, values)
                values, followups = self._events(result, values)
                queue[:0] = followups
        if queue:
            log.warning("turn of %s stopped after %d actions", label, MAX_ACTIONS)
        await self.slots.put(ctx.conversation_id, values)
        return HandlerResult(
            tuple(messages), ctx.slots, evidence=tuple(m.text for m in messages if m.text),
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

    def _events(self, result: ActionResult, values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Slot values after the action's events, and the follow-up actions it asked for."""
        out, followups = dict(values), []
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
            elif kind == "action_execution_rejected":
                raise ActionRejected(f"action {event.get('name')!r} rejected its execution")
            elif kind == "followup" and event.get("name"):
                followups.append(str(event["name"]))
            elif kind not in _QUIET_EVENTS:
                log.warning("event %s from an action is not supported; ignored", kind)
        return out, followups


__all__ = ["RasaResponder", "FALLBACK", "MAX_ACTIONS", "intent_routes"]
