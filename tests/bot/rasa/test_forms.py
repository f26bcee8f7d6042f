"""Rasa forms run as Rasa 3 runs them: slots asked in turn, filled by their mappings, validated by
the project's ``validate_<form>`` action, interruptions answered by rules, the submit rule.

``formbot`` (tests/fixtures/rasa/formbot, written for these tests with the features of Rasa's own
formbot) runs with its real rasa-sdk actions: in-process for the responder's tests, on rasa-sdk's
own action server (``python -m rasa_sdk``) for the conversation over Rasa's REST channel.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from actions.runner import tracker_state
from bot.engine.interfaces import Decision, Slots, TurnContext
from bot.rasa.actions import ActionResult, InProcessProjectActions
from bot.rasa.forms import FormLoop
from bot.rasa.payload import extract_with_payloads
from bot.rasa.responder import RasaResponder
from bot.rasa.slots import InProcessSlots, Tracker, extract_slots
from core.errors import BadRequest
from core.turns import Route, RoutingScores
from retrieval.rasa_flows import ACTION, USER, History, LoopIs
from retrieval.rasa_project import REQUESTED_SLOT, Form, RasaProject, load_rasa_project
from tests.conftest import ROUTER_CONFIG
from tests.retrieval.test_rasa_project import FIXTURES, write

FORMBOT = FIXTURES / "formbot"
FORM = "restaurant_form"


@pytest.fixture(scope="module")
def project() -> RasaProject:
    return load_rasa_project(FORMBOT)


@pytest.fixture(scope="module")
def actions() -> InProcessProjectActions:
    found = InProcessProjectActions(FORMBOT / "actions")
    found.warm_up()
    return found


def turn(label: str, text: str | None = None, conversation: str = "c1", route: Route = Route.FAQ
         ) -> TurnContext:
    text = f"/{label}" if text is None else text
    return TurnContext(conversation, text, Decision(route, label, 0.9), RoutingScores((), (), ()),
                       extract_with_payloads(text), Slots(), {}, None)


async def say(bot: RasaResponder, label: str, text: str | None = None, conversation: str = "c1",
              declined: bool = False) -> list[str | None]:
    ctx = turn(label, text, conversation, Route.DECLINE if declined else Route.FAQ)
    result = await (bot.decline(ctx) if declined else bot.answer(ctx))
    return [m.text for m in result.messages]


# --- Reading forms ------------------------------------------------------------------------------------

def test_the_form_its_rules_and_stories_are_read(project: RasaProject) -> None:
    form = project.forms[FORM]
    assert form.required_slots == ("cuisine", "num_people", "outdoor_seating", "preferences", "feedback")
    assert form.ignored_intents == {"bot_challenge"} and form.validate
    assert project.slots[REQUESTED_SLOT]["type"] == "any", "requested_slot comes with the forms"
    assert not [i for i in project.issues if i.kind == "unsupported"], "every part of formbot runs"
    assert project.turns["request_restaurant"] == (FORM,), "the activation rule"
    submit = project.after_loop[FORM]
    assert [(c.kind, c.actions) for c in submit] == [
        ("rule", ("utter_submit", "utter_slots_values")), ("story", ("utter_submit", "utter_slots_values"))]
    interruption = [c for c in project.continuations["bot_challenge"] if c.loop is not None]
    assert interruption[0].loop == LoopIs(FORM) and interruption[0].actions == ("utter_iamabot", FORM)
    assert project.turns["bot_challenge"] == ("utter_iamabot",), "the rule without a condition, anywhere"
    deny = project.continuations["deny"][0]
    assert deny.loop == LoopIs(FORM) and deny.actions == ("action_deactivate_loop", "utter_stopped")


def test_forms_rasa_cannot_run_either_are_listed(tmp_path: Path) -> None:
    root = write(tmp_path / "p", {
        "domain.yml": """version: "3.1"
intents: [go, inform]
slots:
  city:
    type: text
    mappings:
    - type: from_text
      conditions:
      - active_loop: old_form
forms:
  old_form:
    city:
    - type: from_text
  new_form:
    required_slots: [city, country]
""",
        "data/nlu.yml": "nlu:\n- intent: go\n  examples: |\n    - go\n",
        "data/rules.yml": """rules:
- rule: go
  steps:
  - intent: go
  - action: old_form
  - active_loop: old_form
- rule: out of order
  steps:
  - intent: go
  - active_loop: old_form
- rule: while a form that is not there asks
  condition:
  - active_loop: ghost_form
  steps:
  - intent: go
  - action: action_listen
""",
    })
    found = {(i.file, i.line): i.message for i in load_rasa_project(root).issues if i.kind == "unsupported"}
    assert "Rasa 2's layout" in found[("domain.yml", 11)]
    assert "required slot country is not among the domain's slots" in found[("domain.yml", 14)]
    assert "form old_form is not run" in found[("data/rules.yml", 2)]
    assert "does not follow its form's action" in found[("data/rules.yml", 7)]
    assert "needs form ghost_form active, and no such form runs" in found[("data/rules.yml", 11)]


# --- The slot mappings --------------------------------------------------------------------------------

def test_mappings_apply_as_action_extract_slots_does(project: RasaProject) -> None:
    specs, forms = project.slots, project.forms
    start = {name: None for name in specs}

    def extracted(intent: str, entities: list[dict[str, Any]], text: str, loop: str | None = FORM,
                  requested: str | None = None) -> dict[str, Any]:
        return extract_slots(specs, {**start, REQUESTED_SLOT: requested}, intent, entities, text,
                             active_loop=loop, forms=forms)

    greek = [{"entity": "cuisine", "value": "greek"}]
    assert extracted("inform", greek, "greek", loop=None) == {"cuisine": "greek"}, "no condition: always"
    assert extracted("request_restaurant", [], "a table", loop=None) == {"booked_via": "chat"}, \
        "from_trigger_intent while its form is not active"
    assert extracted("request_restaurant", [], "a table") == {}, "not once the form is active"
    assert extracted("affirm", [], "yes", requested="outdoor_seating") == {"outdoor_seating": True}
    assert extracted("affirm", [], "yes", requested="cuisine") == {}, "conditioned on the slot asked for"
    assert extracted("deny", [], "no", requested="preferences") == {
        "preferences": "no additional preferences"}
    assert extracted("inform", [], "by the window", requested="preferences") == {
        "preferences": "by the window"}
    assert extracted("bot_challenge", [], "are you a bot?", requested="preferences") == {}, \
        "the form's ignored_intents fill nothing while it is active"
    assert extracted("bot_challenge", [], "are you a bot?", loop=None, requested="preferences") == {}
    two = [{"entity": "number", "value": 2}, {"entity": "number", "value": 4}]
    assert extracted("inform", two, "2 or 4")["num_people"] == 4, "a slot that is not a list takes the last"
    assert extracted("greet", two, "hi 4") == {}, "intent: [inform, request_restaurant]"
    outside = [{"entity": "seating", "value": "outside", "role": "where"}]
    assert extracted("inform", outside, "outside") == {}, "an entity with a role fits only a mapping with it"


def test_an_entity_two_required_slots_share_fills_only_the_one_asked_for() -> None:
    specs: dict[str, Any] = {
        "departure": {"type": "text", "mappings": [{"type": "from_entity", "entity": "city"}]},
        "arrival": {"type": "text", "mappings": [{"type": "from_entity", "entity": "city"}]},
        "seats": {"type": "list", "mappings": [{"type": "from_entity", "entity": "seat"}]},
    }
    forms = {"trip": Form("trip", ("departure", "arrival", "seats"))}
    berlin = [{"entity": "city", "value": "Berlin"}, {"entity": "seat", "value": "1A"},
              {"entity": "seat", "value": "1B"}]
    values = {"departure": None, "arrival": None, "seats": None, REQUESTED_SLOT: "arrival"}
    assert extract_slots(specs, values, "inform", berlin, "Berlin", active_loop="trip", forms=forms) == {
        "arrival": "Berlin", "seats": ["1A", "1B"]}
    assert extract_slots(specs, values, "inform", berlin, "Berlin")["departure"] == "Berlin", \
        "with no form active both mappings apply"


# --- The form loop ------------------------------------------------------------------------------------

def validator(events: list[dict[str, Any]], calls: list[tuple[dict[str, Any], dict[str, Any]]]) -> Any:
    async def validate(values: Mapping[str, Any], candidates: Mapping[str, Any]) -> ActionResult:
        calls.append((dict(values), dict(candidates)))
        return ActionResult(({"text": "checked"},), tuple(events))

    return validate


async def test_the_form_asks_validates_and_finishes() -> None:
    form = Form("f", ("a", "b"), validate=True)
    loop = FormLoop(form, {"utter_ask_b", "utter_ask_f_a"}, {"action_ask_f_b"})
    assert loop.question("a") == "utter_ask_f_a" and loop.question("b") == "action_ask_f_b"
    assert loop.question("c") == "utter_ask_c", "Rasa's default"
    calls: list[Any] = []
    first = await loop.activate({"a": 1, "b": None}, validator([], calls))
    assert calls == [({"a": 1, "b": None}, {"a": 1})], "slots filled before activation are validated"
    assert first.active and first.values[REQUESTED_SLOT] == "b" and first.ask == "action_ask_f_b"
    rejected = await loop.fill({"a": 1, "b": None, REQUESTED_SLOT: "b"}, {}, validator([], calls))
    assert rejected.rejected and rejected.active and not rejected.responses, \
        "nothing filled and nothing validated: the rules answer instead, what validation said is dropped"
    cleared = await loop.fill({"a": 1, "b": 0, REQUESTED_SLOT: "b"}, {"b": 0},
                              validator([{"event": "slot", "name": "b", "value": None}], calls))
    assert cleared.values["b"] is None and cleared.ask == "action_ask_f_b", \
        "a slot validated to None: asked again"
    assert cleared.responses == ({"text": "checked"},)
    done = await loop.fill({"a": 1, "b": 2, REQUESTED_SLOT: "b"}, {"b": 2},
                           validator([{"event": "slot", "name": "b", "value": 2}], calls))
    assert not done.active and done.values[REQUESTED_SLOT] is None and done.ask is None
    early = await loop.fill({"a": None, "b": 2, REQUESTED_SLOT: "b"}, {"b": 2}, validator(
        [{"event": "slot", "name": "b", "value": 2},
         {"event": "slot", "name": REQUESTED_SLOT, "value": None}], calls))
    assert not early.active, "the validation action may end the form early"
    refused = await loop.fill({"a": 1, "b": 2, REQUESTED_SLOT: "b"}, {"b": 2},
                              validator([{"event": "action_execution_rejected", "name": "f"}], calls))
    assert refused.rejected and refused.active
    plain = FormLoop(Form("g", ("a",)), {"utter_ask_a"}, ())
    assert (await plain.fill({"a": None, REQUESTED_SLOT: "a"}, {}, None)).rejected
    assert not (await plain.fill({"a": "x", REQUESTED_SLOT: "a"}, {"a": "x"}, None)).active


def test_the_validation_action_finds_the_slots_to_validate_last() -> None:
    from rasa_sdk import Tracker as SdkTracker

    state = tracker_state("c", {"cuisine": "greek", REQUESTED_SLOT: "cuisine"}, "/inform", "inform", [], {},
                          active_loop=FORM, validating={"cuisine": "greek"})
    sdk = SdkTracker.from_dict(state)
    assert sdk.active_loop_name == FORM and sdk.latest_action_name == FORM
    assert sdk.slots_to_validate() == {"cuisine": "greek"}
    assert SdkTracker.from_dict(tracker_state("c", {}, "hi", "greet", [], {})).active_loop == {}


def test_the_active_loop_is_stored_with_the_tracker_and_old_ones_still_read() -> None:
    tracker = Tracker({"cuisine": "greek", REQUESTED_SLOT: "num_people"},
                      History(((USER, "request_restaurant"), (ACTION, FORM)), False, FORM))
    stored = json.loads(json.dumps(tracker.as_json()))
    assert stored["events"][-1] == ["loop", FORM]
    assert Tracker.from_json(stored) == tracker and Tracker.from_json(stored).active_loop == FORM
    old = {"slots": {"cuisine": "greek"}, "events": [["user", "greet"]], "trimmed": False}
    assert Tracker.from_json(old).active_loop is None and Tracker.from_json(old).history.events == (
        (USER, "greet"),)


# --- A conversation -----------------------------------------------------------------------------------

async def test_formbot_fills_validates_and_submits(
    project: RasaProject, actions: InProcessProjectActions
) -> None:
    store = InProcessSlots()
    bot = RasaResponder(project, store, actions)
    assert await say(bot, "greet", "hi") == ["Hello! I am a restaurant search assistant! How can I help?"]
    assert await say(bot, "request_restaurant", "im looking for a restaurant") == ["What cuisine?"]
    assert await bot.active_loop("c1") == FORM
    assert await say(bot, "inform", '/inform{"cuisine": "klingon"}', declined=True) == [
        "Cuisine is not in the database, please try again", "What cuisine?"], "validate_restaurant_form"
    assert await say(bot, "bot_challenge", "are you a bot?") == [
        "I am a bot, powered by Rasa.", "What cuisine?"], \
        "an interruption: the rule conditioned on the active form answers, then the form asks again"
    assert await say(bot, "inform", '/inform{"cuisine": "Greek"}', declined=True) == ["How many people?"]
    assert await say(bot, "inform", '/inform{"number": -2}', declined=True) == [
        "Number of people should be a positive integer, please try again", "How many people?"]
    assert await say(bot, "inform", '/inform{"number": "4"}', declined=True) == [
        "Do you want to sit outside?"]
    assert await say(bot, "affirm", "yes") == ["Please provide additional preferences"], "from_intent"
    assert await say(bot, "out_of_scope", "a table by the window", declined=True) == [
        "Please give your feedback on your experience so far"], "from_text, whatever the router made of it"
    done = await say(bot, "out_of_scope", "so far so good", declined=True)
    assert done == ["All done!", "I am going to search with cuisine greek, 4 people, outdoor seating True, "
                    "preferences: a table by the window; feedback: so far so good (booked via chat)."], \
        "the submit rule once every slot is filled"
    stored = await store.get("c1")
    assert stored is not None and stored.active_loop is None and stored.slots[REQUESTED_SLOT] is None
    # The messages the form took are left out, as Rasa's stories leave them out; the interruption
    # and what ran once the form was done are kept (as many events as a story here looks back on).
    assert stored.history.events == ((ACTION, "utter_iamabot"), (ACTION, FORM), (ACTION, "utter_submit"),
                                     (ACTION, "utter_slots_values"))
    assert await say(bot, "thankyou", "thanks") == ["You are welcome :)"]


async def test_stopping_a_form_by_its_stories(project: RasaProject, actions: InProcessProjectActions) -> None:
    bot = RasaResponder(project, InProcessSlots(), actions)
    assert await say(bot, "request_restaurant", '/request_restaurant{"cuisine": "thai", "number": 2}') == [
        "Do you want to sit outside?"], "slots filled before activation are validated, not asked"
    assert await say(bot, "stop", "stop") == ["Do you want to continue?"], "the story for stop while it asks"
    assert await say(bot, "affirm", "yes") == ["Please provide additional preferences"], \
        "yes answers the form's own question (outdoor seating): the form takes it first"
    assert await say(bot, "stop", "stop") == ["Please give your feedback on your experience so far"], \
        "preferences are free text: 'stop' is the answer"
    bot2 = RasaResponder(bot.project, InProcessSlots(), actions)
    assert await say(bot2, "request_restaurant", "a table", conversation="c2") == ["What cuisine?"]
    assert await say(bot2, "stop", "stop", conversation="c2") == ["Do you want to continue?"]
    assert await say(bot2, "affirm", "yes", conversation="c2") == ["What cuisine?"], \
        "the story goes back to the form, which asks again"
    assert await say(bot2, "stop", "stop", conversation="c2") == ["Do you want to continue?"]
    assert await say(bot2, "deny", "no", conversation="c2") == ["OK, I stopped the search."]
    assert await bot2.active_loop("c2") is None, "action_deactivate_loop"
    assert [m.text for m in await bot2.execute("c3", FORM)] == ["What cuisine?"], "a form run from outside"
    assert await bot2.active_loop("c3") == FORM
    assert await say(bot2, "inform", '/inform{"cuisine": "greek"}', conversation="c2", declined=True) == [
        "Sorry, I didn't get that. Could you rephrase?"], "no form: inform alone gets the fallback"


class Extractor:
    """A stand-in for the project's trained entity extractor (the boundary): words it knows."""

    def __init__(self, known: Mapping[str, str]) -> None:
        self.known = dict(known)
        self.calls: list[str] = []

    def warm_up(self) -> None:
        """Nothing to load."""

    def run(self, text: str) -> tuple[dict[str, Any], ...]:
        self.calls.append(text)
        return tuple({"entity": entity, "value": word, "start": text.index(word),
                      "end": text.index(word) + len(word), "confidence_entity": 0.9, "extractor": "stand-in"}
                     for word, entity in self.known.items() if word in text)


async def test_typed_entities_from_the_extractor_fill_the_form(
    project: RasaProject, actions: InProcessProjectActions
) -> None:
    extractor = Extractor({"italian": "cuisine", "3": "number"})
    bot = RasaResponder(project, InProcessSlots(), actions, extractor=extractor)
    assert await say(bot, "request_restaurant", "italian food for 3 please") == [
        "Do you want to sit outside?"]
    assert extractor.calls == ["italian food for 3 please"]
    await say(bot, "inform", '/inform{"cuisine": "greek"}', declined=True)
    assert extractor.calls == ["italian food for 3 please"], "a payload brings its own entities"


class Reminders:
    """A stand-in reminder book (the boundary): what the responder asked of it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []

    async def schedule(self, conversation_id: str, event: Mapping[str, Any]) -> None:
        self.calls.append(("schedule", conversation_id, event.get("name")))

    async def cancel(self, conversation_id: str, event: Mapping[str, Any]) -> None:
        self.calls.append(("cancel", conversation_id, event.get("name")))

    async def user_spoke(self, conversation_id: str) -> None:
        self.calls.append(("spoke", conversation_id, None))


REMINDING = {
    "domain.yml": """version: "3.1"
intents: [remind, forget]
actions: [action_remind, action_forget]
responses:
  utter_noted:
  - text: Noted.
""",
    "data/nlu.yml": "nlu:\n- intent: remind\n  examples: |\n    - remind me\n"
                    "- intent: forget\n  examples: |\n    - forget it\n",
    "data/rules.yml": """rules:
- rule: remind
  steps:
  - intent: remind
  - action: action_remind
- rule: forget
  steps:
  - intent: forget
  - action: action_forget
""",
    "actions/__init__.py": "",
    "actions/remind.py": '''import datetime

from rasa_sdk import Action
from rasa_sdk.events import ReminderCancelled, ReminderScheduled


class ActionRemind(Action):
    def name(self):
        return "action_remind"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(response="utter_noted")
        at = datetime.datetime.now() + datetime.timedelta(minutes=5)
        return [ReminderScheduled("EXTERNAL_reminder", trigger_date_time=at, name="call")]


class ActionForget(Action):
    def name(self):
        return "action_forget"

    def run(self, dispatcher, tracker, domain):
        return [ReminderCancelled(name="call")]
''',
}


async def test_reminders_and_actions_run_from_outside(tmp_path: Path) -> None:
    root = write(tmp_path / "reminding", REMINDING)
    reminders = Reminders()
    store = InProcessSlots()
    bot = RasaResponder(load_rasa_project(root), store, InProcessProjectActions(root / "actions"),
                        reminders=reminders)
    assert await say(bot, "remind", "remind me") == ["Noted."]
    assert reminders.calls == [("spoke", "c1", None), ("schedule", "c1", "call")]
    assert await bot.execute("c1", "action_forget") == ()
    assert reminders.calls[-1] == ("cancel", "c1", "call"), "no user message: user_spoke is not called"
    assert [m.text for m in await bot.execute("c1", "utter_noted")] == ["Noted."]
    with pytest.raises(BadRequest):
        await bot.execute("c1", "action_unknown")
    # A restart drops the conversation's reminders, as Rasa fires none scheduled before it.
    await bot.execute("c1", "action_restart")
    assert reminders.calls[-1] == ("cancel", "c1", None)


# --- Over Rasa's REST channel, with the project's action server ----------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def action_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of formbot whose endpoints.yml names rasa-sdk's own action server, started on a free port."""
    root = tmp_path_factory.mktemp("formbot") / "formbot"
    shutil.copytree(FORMBOT, root)
    port = free_port()
    (root / "endpoints.yml").write_text(f'action_endpoint:\n  url: "http://127.0.0.1:{port}/webhook"\n')
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    server = subprocess.Popen([sys.executable, "-m", "rasa_sdk", "--actions", "actions", "-p", str(port)],
                              cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the action server did not start: {server.stderr.read()!r}"
                                         if server.stderr else "the action server did not start") from None
                time.sleep(0.2)
        yield root
    finally:
        server.terminate()
        server.wait(timeout=10)


# A shorter training than the other projects' routers (≈ 35 s of CPU instead of ≈ 100 s): formbot's
# phrasings are few, and the messages typed below are among them.
FORMBOT_ROUTER = replace(ROUTER_CONFIG, epochs=1.0, min_steps=40)


@pytest.fixture(scope="module")
def formbot_var(built_var: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``built_var``'s shop and models with a router for formbot."""
    from tests.bot.rasa.test_rasa_rest import project_var

    return project_var(built_var, tmp_path_factory.mktemp("formbot-var") / "var", FORMBOT, FORMBOT_ROUTER)


async def rest(client: Any, message: str, sender: str = "diner") -> list[str]:
    resp = await client.post("/webhooks/rest/webhook", json={"sender": sender, "message": message})
    assert resp.status == 200
    return [m.get("text") for m in await resp.json()]


@pytest.mark.slow
async def test_formbot_over_rest_with_its_action_server(
    aiohttp_client: Any, formbot_var: Path, action_server: Path, tmp_path: Path
) -> None:
    from tests.bot.rasa.test_rasa_rest import app_for

    client = await app_for(aiohttp_client, formbot_var, action_server, tmp_path)
    assert await rest(client, "im looking for a restaurant") == ["What cuisine?"], "typed: the router"
    assert await rest(client, '/inform{"cuisine": "klingon"}') == [
        "Cuisine is not in the database, please try again", "What cuisine?"], "validated on the action server"
    assert await rest(client, "are you a bot?") == ["I am a bot, powered by Rasa.", "What cuisine?"]
    assert await rest(client, '/inform{"cuisine": "greek"}') == ["How many people?"]
    assert await rest(client, '/inform{"number": 4}') == ["Do you want to sit outside?"]
    assert await rest(client, "yes") == ["Please provide additional preferences"]
    assert await rest(client, "no preferences") == ["Please give your feedback on your experience so far"]
    assert await rest(client, "lovely so far") == [
        "All done!", "I am going to search with cuisine greek, 4 people, outdoor seating True, preferences: "
        "no additional preferences; feedback: lovely so far (booked via chat)."]


@pytest.mark.slow
async def test_formbot_fills_its_form_from_typed_messages_over_socketio(
    aiohttp_server: Any, formbot_var: Path, action_server: Path, tmp_path: Path
) -> None:
    """rasa-webchat's socket.io: every slot typed (entities from the project's trained extractor),
    validated on the action server, the form submitted."""
    from core.settings import REPO_ROOT, Settings
    from tests.bot.channels.test_socketio import Shopper, start_shop
    from tests.identity import IDENTITY_ENV

    settings = Settings(var_dir=formbot_var, rasa_project=action_server,
                        database_url=f"sqlite:///{tmp_path / 'turns.db'}", web_dir=REPO_ROOT / "web",
                        journal_dir=tmp_path / "journal", identity_secret_env=IDENTITY_ENV)
    shop = await start_shop(aiohttp_server, settings)
    async with Shopper(shop.url) as shopper:
        session = await shopper.session(None)

        async def say(text: str) -> list[str]:
            said, _ = await shopper.say(session, text)
            return [m.get("text") for m in said]

        assert await say("im looking for a restaurant") == ["What cuisine?"]
        assert await say("klingon food please") == [
            "Cuisine is not in the database, please try again", "What cuisine?"], "validated, typed"
        assert await say("greek please") == ["How many people?"], "cuisine from typed text"
        assert await say("we are 5") == ["Do you want to sit outside?"], "number from typed text"
        assert await say("yes") == ["Please provide additional preferences"]
        assert await say("no preferences") == ["Please give your feedback on your experience so far"]
        done = await say("lovely so far")
        assert done[0] == "All done!" and "cuisine greek, 5 people, outdoor seating True" in done[1], done
