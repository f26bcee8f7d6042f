"""A Rasa project's turns run as Rasa runs them: responses, custom actions, slots and fallbacks.

The custom actions are real rasa-sdk actions in the project's own ``actions`` package, run
in-process and behind a real HTTP action server (rasa-sdk's executor behind Rasa's webhook).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.engine.interfaces import Decision, Slots, TurnContext
from bot.engine.policy import INTENT_ROUTES
from bot.rasa.actions import HttpProjectActions, InProcessProjectActions, project_actions
from bot.rasa.payload import extract_with_payloads
from bot.rasa.responder import FALLBACK, RasaResponder
from bot.rasa.slots import InProcessSlots
from core.errors import ActionRejected
from core.turns import Route, RoutingScores
from retrieval.rasa_project import load_rasa_project
from tests.retrieval.test_rasa_project import SELECTOR, write

PIZZA = {
    "domain.yml": """version: "3.1"
intents: [order, status, greet, again, broken]
entities: [size]
slots:
  size:
    type: text
    mappings:
    - type: from_entity
      entity: size
  ordered:
    type: bool
    initial_value: false
    mappings:
    - type: custom
  mood:
    type: text
    mappings:
    - type: from_intent
      intent: greet
      value: happy
actions: [action_order, action_confirm, action_broken]
responses:
  utter_ordered:
  - text: "A {size} pizza is on its way."
  utter_status:
  - condition:
    - type: slot
      name: ordered
      value: true
    text: "Your {size} pizza is in the oven."
  - text: "You have not ordered yet."
  utter_greet:
  - text: "Hello, you seem {mood}."
  utter_default:
  - text: "Pardon?"
""",
    "data/nlu.yml": """version: "3.1"
nlu:
- intent: order
  examples: |
    - I want a [large](size) pizza
    - one pizza please
- intent: status
  examples: |
    - where is my pizza
    - is it ready
- intent: greet
  examples: |
    - hello
- intent: again
  examples: |
    - start again
- intent: broken
  examples: |
    - break it
""",
    "data/rules.yml": """version: "3.1"
rules:
- rule: order
  steps:
  - intent: order
  - action: action_order
- rule: status
  steps:
  - intent: status
  - action: utter_status
- rule: greet
  steps:
  - intent: greet
  - action: utter_greet
- rule: again
  steps:
  - intent: again
  - action: action_restart
  - action: utter_status
- rule: broken
  steps:
  - intent: broken
  - action: action_broken
""",
    "actions/__init__.py": "",
    "actions/pizza.py": '''from rasa_sdk import Action
from rasa_sdk.events import FollowupAction, SlotSet


class ActionOrder(Action):
    def name(self):
        return "action_order"

    def run(self, dispatcher, tracker, domain):
        size = tracker.get_slot("size") or "medium"
        dispatcher.utter_message(response="utter_ordered", size=size)
        return [SlotSet("ordered", True), SlotSet("size", size), FollowupAction("action_confirm")]


class ActionConfirm(Action):
    def name(self):
        return "action_confirm"

    def run(self, dispatcher, tracker, domain):
        found = [e["value"] for e in tracker.latest_message["entities"]]
        customer = tracker.latest_message["metadata"].get("customer_id", "anonymous")
        dispatcher.utter_message(text=f"Confirmed for {customer}: {', '.join(found) or 'no entities'}.",
                                 buttons=[{"title": "Status", "payload": "/status"}])
        return []


class ActionBroken(Action):
    def name(self):
        return "action_broken"

    def run(self, dispatcher, tracker, domain):
        raise RuntimeError("the oven is off")
''',
}


@pytest.fixture
def pizza(tmp_path: Path) -> Path:
    return write(tmp_path / "pizza", PIZZA)


def turn(label: str, text: str, route: Route = Route.FAQ, conversation: str = "c1",
         metadata: dict[str, Any] | None = None, customer: str | None = None) -> TurnContext:
    return TurnContext(conversation, text, Decision(route, label, 0.9), RoutingScores((), (), ()),
                       extract_with_payloads(text), Slots(), metadata or {}, customer)


def rest(result: Any) -> list[dict[str, Any]]:
    return [m.to_rest("u") for m in result.messages]


async def conversation(responder: RasaResponder) -> None:
    """The same five messages, whichever way the actions run."""
    ordered = await responder.answer(turn("order", '/order{"size": "large"}', customer="17841",
                                          metadata={"customer_token": "secret", "page": "menu"}))
    assert rest(ordered) == [
        {"recipient_id": "u", "text": "A large pizza is on its way."},
        {"recipient_id": "u", "text": "Confirmed for 17841: large.",
         "buttons": [{"title": "Status", "payload": "/status"}]},
    ], "the payload's entity fills the slot, the action renders a domain response, then its follow-up runs"
    assert ordered.latency_ms["action"] > 0
    status = await responder.answer(turn("status", "is it ready?"))
    assert rest(status) == [{"recipient_id": "u", "text": "Your large pizza is in the oven."}], \
        "the action's slot events are kept for the conversation's next message"
    other = await responder.answer(turn("status", "is it ready?", conversation="c2"))
    not_yet = [{"recipient_id": "u", "text": "You have not ordered yet."}]
    assert rest(other) == not_yet, "slots are per conversation"
    again = await responder.answer(turn("again", "start again"))
    assert rest(again) == not_yet, "action_restart resets"
    greet = await responder.answer(turn("greet", "hello"))
    assert rest(greet) == [{"recipient_id": "u", "text": "Hello, you seem happy."}], "from_intent mapping"


async def test_custom_actions_in_process(pizza: Path) -> None:
    project = load_rasa_project(pizza)
    actions = project_actions(project.action_endpoint, project.actions_path, 5.0)
    assert isinstance(actions, InProcessProjectActions)
    actions.warm_up()
    await conversation(RasaResponder(project, InProcessSlots(), actions, random.Random(0)))
    with pytest.raises(ActionRejected, match="the oven is off"):
        await RasaResponder(project, InProcessSlots(), actions).answer(turn("broken", "break it"))


async def test_custom_actions_on_the_projects_action_server(pizza: Path, aiohttp_server: Any) -> None:
    backend = InProcessProjectActions(pizza / "actions")
    calls: list[dict[str, Any]] = []

    async def webhook(request: web.Request) -> web.Response:
        body = await request.json()
        calls.append(body)
        result = await backend.run(body["next_action"], body["tracker"], body["domain"])
        return web.json_response({"events": list(result.events), "responses": list(result.responses)})

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    server = await aiohttp_server(app)
    (pizza / "endpoints.yml").write_text(f'action_endpoint:\n  url: "http://127.0.0.1:{server.port}/webhook"\n')
    project = load_rasa_project(pizza)
    actions = project_actions(project.action_endpoint, project.actions_path, 5.0)
    assert isinstance(actions, HttpProjectActions)
    try:
        await conversation(RasaResponder(project, InProcessSlots(), actions, random.Random(0)))
    finally:
        await actions.close()
    first = calls[0]
    assert [c["next_action"] for c in calls] == ["action_order", "action_confirm"]
    assert first["tracker"]["slots"] == {"size": "large", "ordered": False, "mood": None}
    assert first["tracker"]["latest_message"]["intent"]["name"] == "order"
    assert first["tracker"]["latest_message"]["entities"] == [{"entity": "size", "value": "large"}]
    assert first["tracker"]["latest_message"]["metadata"] == {"page": "menu", "customer_id": "17841"}, \
        "actions never see the identity token, only a verified customer id"
    assert "utter_ordered" in first["domain"]["responses"] and first["domain"]["actions"]


async def test_declines_use_the_projects_fallback(pizza: Path, tmp_path: Path) -> None:
    project = load_rasa_project(pizza)
    responder = RasaResponder(project, InProcessSlots(), None)
    declined = await responder.decline(turn("out_of_scope", "what's the weather", Route.DECLINE))
    assert rest(declined) == [{"recipient_id": "u", "text": "Pardon?"}] and not declined.answered
    plain = RasaResponder(load_rasa_project(SELECTOR), InProcessSlots(), None)
    assert (await plain.decline(turn("out_of_scope", "?", Route.DECLINE))).messages == (FALLBACK,)
    with_rule = write(tmp_path / "oos", {**PIZZA, "data/oos.yml": (
        "nlu:\n- intent: out_of_scope\n  examples: |\n    - what's the weather\n    - tell me a joke\n"
        "rules:\n- rule: oos\n  steps:\n  - intent: out_of_scope\n  - action: utter_status\n")})
    own = RasaResponder(load_rasa_project(with_rule), InProcessSlots(), None)
    assert rest(await own.decline(turn("out_of_scope", "tell me a joke", Route.DECLINE))) == [
        {"recipient_id": "u", "text": "You have not ordered yet."}], "the project's out_of_scope rule answers"


async def test_without_actions_a_custom_action_is_refused(pizza: Path) -> None:
    responder = RasaResponder(load_rasa_project(pizza), InProcessSlots(), None)
    with pytest.raises(ActionRejected, match="no action server"):
        await responder.answer(turn("order", "one pizza please"))


def test_the_projects_intents_take_its_own_routes(pizza: Path, tmp_path: Path) -> None:
    shadow = write(tmp_path / "shadow", {**PIZZA, "data/more.yml": (
        "nlu:\n- intent: handoff\n  examples: |\n    - a person please\n- intent: unanswered\n"
        "  examples: |\n    - something\nrules:\n- rule: person\n  steps:\n  - intent: handoff\n"
        "  - action: utter_greet\n")})
    responder = RasaResponder(load_rasa_project(shadow), InProcessSlots(), None)
    routes = responder.intent_routes(INTENT_ROUTES)
    assert "handoff" not in routes, "the project's own handoff intent answers from the project"
    assert routes["recommend"] is Route.RECOMMEND, "the shop's other intents stay"
    assert routes["unanswered"] is Route.DECLINE and routes["out_of_scope"] is Route.DECLINE
    assert responder.handles("handoff") and not responder.handles("unanswered")


def test_the_policy_routes_by_the_projects_table(tmp_path: Path) -> None:
    from bot.engine.interfaces import Signals
    from bot.engine.policy import RoutingThresholds, decide
    from core.turns import RouterOutput

    shadow = write(tmp_path / "shadow", {**PIZZA, "data/more.yml": (
        "nlu:\n- intent: handoff\n  examples: |\n    - a person please\n"
        "rules:\n- rule: person\n  steps:\n  - intent: handoff\n  - action: utter_greet\n")})
    responder = RasaResponder(load_rasa_project(shadow), InProcessSlots(), None)
    project = RoutingThresholds(intent_routes=responder.intent_routes(INTENT_ROUTES))
    shop = RoutingThresholds()
    said = Signals(RouterOutput("handoff", "handoff", 0.9), entities=extract_with_payloads("a person please"))
    assert decide(said, project).route is Route.FAQ and decide(said, shop).route is Route.HANDOFF
    clicked = Signals(entities=extract_with_payloads('/order{"size": "large"}'))
    assert decide(clicked, project) == Decision(Route.FAQ, "order", 1.0)
    recommend = Signals(entities=extract_with_payloads("/recommend"))
    assert decide(recommend, project).route is Route.RECOMMEND, "the shop's buttons still work"
