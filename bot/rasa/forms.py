"""A Rasa form (an active loop) run as Rasa 3's ``FormAction`` runs it.

A form asks for its required slots in turn. Each run of the form action ends one of three ways
(:class:`FormStep`): it asks for the next empty required slot (``requested_slot`` set, the
question named as Rasa looks it up: ``action_ask_<form>_<slot>``, ``utter_ask_<form>_<slot>``,
``action_ask_<slot>``, else ``utter_ask_<slot>``), it is done (every required slot filled, or its
validation said so: ``requested_slot`` and the active loop cleared), or, after a user message that
filled nothing, it is rejected so that the project's rules and stories answer the message instead.

Slots are validated by the project's ``validate_<form>`` action when the domain has one: it is
called with the slots the message set (last in the tracker, as Rasa's temporary tracker puts them)
and its ``slot`` events are what the form keeps (a slot set to None is asked again). This module
decides; running actions and saying things is the responder's (``bot/rasa/responder.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.rasa.actions import ActionResult
from retrieval.rasa_project import REQUESTED_SLOT, Form

# Calls ``validate_<form>``: (the slot values, the slots to validate) → what the action answered.
Validate = Callable[[Mapping[str, Any], Mapping[str, Any]], Awaitable[ActionResult]]


@dataclass(frozen=True)
class FormStep:
    """What one run of a form did.

    ``values``: the slot values after it (``requested_slot`` included). ``responses``: what its
    validation action said, to render. ``ask``: the action asking for ``requested_slot`` (None
    when the form is done or rejected). ``events``: its validation action's other events
    (reminders, follow-ups), for the responder.
    """

    values: dict[str, Any]
    active: bool
    ask: str | None = None
    rejected: bool = False
    responses: tuple[dict[str, Any], ...] = ()
    events: tuple[dict[str, Any], ...] = field(default=())


class FormLoop:
    """One form of the project: which slot comes next, how it is asked for, what a message fills."""

    def __init__(self, form: Form, responses: Collection[str], actions: Collection[str]) -> None:
        self.form = form
        self._responses = frozenset(responses)
        self._actions = frozenset(actions)

    @property
    def name(self) -> str:
        """The form's name (its action's)."""
        return self.form.name

    def question(self, slot: str) -> str:
        """The action that asks for ``slot``, looked up as Rasa does."""
        name = self.form.name
        for candidate in (f"action_ask_{name}_{slot}", f"utter_ask_{name}_{slot}", f"action_ask_{slot}"):
            if candidate in self._actions or candidate in self._responses:
                return candidate
        return f"utter_ask_{slot}"

    def next_slot(self, values: Mapping[str, Any]) -> str | None:
        """The first required slot still empty, or None."""
        return next((s for s in self.form.required_slots if values.get(s) is None), None)

    async def activate(self, values: Mapping[str, Any], validate: Validate | None) -> FormStep:
        """The form's first run: the required slots already filled are validated, then the first
        empty one is asked for."""
        prefilled = {s: values[s] for s in self.form.required_slots if values.get(s) is not None}
        if not self.form.validate or validate is None:
            return self._conclude(dict(values), ())
        result = await validate(values, prefilled)
        return self._after_validation(dict(values), result)

    async def fill(self, values: Mapping[str, Any], extracted: Mapping[str, Any],
                   validate: Validate | None) -> FormStep:
        """A run after a user message: the required slots it set (``extracted``) are validated; when
        a slot was asked for and nothing was filled, the form is rejected."""
        candidates = {k: v for k, v in extracted.items()
                      if k in self.form.required_slots or k == values.get(REQUESTED_SLOT)}
        requested = values.get(REQUESTED_SLOT)
        if not self.form.validate or validate is None:
            if requested is not None and not candidates:
                return FormStep(dict(values), active=True, rejected=True)
            return self._conclude(dict(values), ())
        result = await validate(values, candidates)
        validated = any(e.get("event") == "slot" and e.get("name") != REQUESTED_SLOT for e in result.events)
        if requested is not None and not candidates and not validated and not _refused(result):
            # Nothing for the form here: Rasa's ActionExecutionRejection drops what validation said.
            return FormStep(dict(values), active=True, rejected=True)
        return self._after_validation(dict(values), result)

    def resume(self, values: Mapping[str, Any]) -> FormStep:
        """A run after an interruption (no user message of its own): ask again."""
        return self._conclude(dict(values), ())

    def _after_validation(self, values: dict[str, Any], result: ActionResult) -> FormStep:
        others: list[dict[str, Any]] = []
        for event in result.events:
            kind = event.get("event")
            if kind == "slot" and event.get("name") != REQUESTED_SLOT:
                if event.get("name") in values:
                    values[str(event["name"])] = event.get("value")
            elif kind not in ("slot", "active_loop", "action_execution_rejected"):
                others.append(event)
        if _refused(result):
            # The validation action refused the message itself: the rules and stories answer it.
            return FormStep(values, active=True, rejected=True, responses=result.responses,
                            events=tuple(others))
        step = self._conclude(values, result.events)
        return FormStep(step.values, step.active, step.ask, False, result.responses, tuple(others))

    def _conclude(self, values: dict[str, Any], events: tuple[dict[str, Any], ...]) -> FormStep:
        """Done (the validation cleared ``requested_slot`` or the loop, or nothing is left to ask),
        else ask for the slot the validation named or the next empty one."""
        asked = [e for e in events if e.get("event") == "slot" and e.get("name") == REQUESTED_SLOT]
        loops = [e for e in events if e.get("event") == "active_loop"]
        done = (bool(asked) and asked[-1].get("value") is None) or \
            (bool(loops) and loops[-1].get("name") is None)
        slot = None if done else (str(asked[-1]["value"]) if asked else self.next_slot(values))
        values[REQUESTED_SLOT] = slot
        if slot is None:
            return FormStep(values, active=False)
        return FormStep(values, active=True, ask=self.question(slot))


def _refused(result: ActionResult) -> bool:
    return any(e.get("event") == "action_execution_rejected" for e in result.events)


__all__ = ["FormLoop", "FormStep", "Validate"]
