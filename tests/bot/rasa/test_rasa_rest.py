"""Rasa's own projects, copied unchanged, and ``contextbot`` (rules and stories that need their
context), answering over Rasa's REST channel through the real app.

Each project's router is trained the way ``shopbot train`` trains it (the project's intents, then
the ONNX export); the catalogue, encoder and generator are the demo shop's (``built_var``).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient

from bot.engine.replies import WAITING
from bot.rasa.responses import messages_of
from core.settings import REPO_ROOT, Settings
from retrieval.rasa_project import load_rasa_project
from retrieval.router import RouterConfig
from retrieval.router_train import train_router
from retrieval.turn_encoder import export_onnx
from tests.conftest import ROUTER_CONFIG
from tests.identity import IDENTITY_ENV
from tests.retrieval.test_rasa_project import FIXTURES, SELECTOR, STARTER, write

pytestmark = pytest.mark.slow


def project_var(built_var: Path, var: Path, project: Path, config: RouterConfig = ROUTER_CONFIG) -> Path:
    """A var dir sharing the demo shop's catalogue and models, with a router for ``project``."""
    var.mkdir(parents=True, exist_ok=True)
    for name in ("shop", "encoder", "generator", "generator-fast"):
        (var / name).symlink_to(built_var / name, target_is_directory=True)
    (var / "index").mkdir()
    for path in (built_var / "index").glob("products.*"):
        shutil.copy(path, var / "index" / path.name)
    router = Settings(var_dir=var).router_dir
    train_router(list(load_rasa_project(project).entries), router, config=config, progress=False)
    export_onnx(router)
    return var


@pytest.fixture(scope="module")
def context_var(built_var: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return project_var(built_var, tmp_path_factory.mktemp("context") / "var", FIXTURES / "contextbot")


async def app_for(aiohttp_client: Any, var: Path, project: Path, tmp_path: Path,
                  **overrides: Any) -> TestClient:
    from bot.server import create_app

    settings = Settings(var_dir=var, rasa_project=project, database_url=f"sqlite:///{tmp_path / 'turns.db'}",
                        web_dir=REPO_ROOT / "web", journal_dir=tmp_path / "journal",
                        identity_secret_env=IDENTITY_ENV, **overrides)
    return await aiohttp_client(create_app(settings))


@pytest.fixture
async def selector(aiohttp_client: Any, selector_var: Path, tmp_path: Path) -> AsyncIterator[TestClient]:
    yield await app_for(aiohttp_client, selector_var, SELECTOR, tmp_path)


async def say(client: TestClient, text: str, sender: str = "shopper") -> list[dict[str, Any]]:
    resp = await client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
    assert resp.status == 200 and resp.headers["X-Shopbot-Turn-Id"]
    body: list[dict[str, Any]] = await resp.json()
    return body


def renderings(
    project: Path, files: tuple[str, ...], response: str, sender: str
) -> list[list[dict[str, Any]]]:
    """Every REST answer a response can give: one per variant (read straight from the YAML)."""
    for name in files:
        variants = (yaml.safe_load((project / name).read_text()).get("responses") or {}).get(response)
        if variants:
            return [[m.to_rest(sender) for m in messages_of(v)] for v in variants]
    raise AssertionError(f"no response {response}")


def text(sender: str, value: str) -> list[dict[str, Any]]:
    return [{"recipient_id": sender, "text": value}]


async def test_responseselectorbot_answers_like_rasa(selector: TestClient) -> None:
    names = renderings(SELECTOR, ("data/nlu.yml",), "utter_chitchat/ask_name", "shopper")
    assert len(names) == 2
    assert await say(selector, "what is your name?") in names, "a retrieval intent, a random variant"
    assert await say(selector, "are you a bot?") == text("shopper", "I am a bot, powered by Rasa.")
    assert await say(selector, "bye") == text("shopper", "Bye")
    greeting = await say(selector, "hello")
    assert greeting == renderings(SELECTOR, ("domain.yml",), "utter_greet", "shopper")[0]
    clicked = greeting[0]["buttons"][1]["payload"]
    assert clicked == "/mood_unhappy"
    assert await say(selector, clicked) == [
        {"recipient_id": "shopper", "text": "Here is something to cheer you up:"},
        {"recipient_id": "shopper", "image": "https://i.imgur.com/nGF1K8f.jpg"},
        {"recipient_id": "shopper", "text": "Did that help you?"},
    ], "a button payload names the intent; a story's message runs its actions in order"
    weather = renderings(SELECTOR, ("data/nlu.yml",), "utter_chitchat/ask_weather", "shopper")
    assert await say(selector, "/chitchat/ask_weather") in weather


async def test_both_variants_come_up(selector: TestClient) -> None:
    names = renderings(SELECTOR, ("data/nlu.yml",), "utter_chitchat/ask_name", "s")
    seen = {str(await say(selector, "May I know your name?", "s")) for _ in range(12)}
    # Both variants at random (each has probability 1/2: missing one in 12 tries is 1 in 2048).
    assert seen == {str(n) for n in names}


async def test_rasa_init_starter_project(aiohttp_client: Any, starter_var: Path, tmp_path: Path) -> None:
    client = await app_for(aiohttp_client, starter_var, STARTER, tmp_path)
    assert await say(client, "are you a bot?") == text("shopper", "I am a bot, powered by Rasa.")
    assert await say(client, "goodbye") == text("shopper", "Bye")
    assert await say(client, "I am sad") == [
        {"recipient_id": "shopper", "text": "Here is something to cheer you up:"},
        {"recipient_id": "shopper", "image": "https://i.imgur.com/nGF1K8f.jpg"},
        {"recipient_id": "shopper", "text": "Did that help you?"},
    ]
    assert await say(client, "/affirm") == text("shopper", "Great, carry on!")


def cheer_up(sender: str = "shopper") -> list[dict[str, Any]]:
    return [{"recipient_id": sender, "text": "Here is something to cheer you up:"},
            {"recipient_id": sender, "image": "https://i.imgur.com/nGF1K8f.jpg"},
            {"recipient_id": sender, "text": "Did that help you?"}]


async def test_moodbot_decides_its_own_dialogue(
    aiohttp_client: Any, starter_var: Path, tmp_path: Path
) -> None:
    from bot.serving.desk import DESK

    client = await app_for(aiohttp_client, starter_var, STARTER, tmp_path)
    # VADER scores "my day was horrible" -0.54, past the shop's -0.5: the shop would escalate it.
    assert await say(client, "my day was horrible") == cheer_up(), "the project's own answer, no handoff"
    assert await say(client, "no") == text("shopper", "Bye"), "sad path 2 goes on"
    assert await say(client, "I am feeling very good") == text("shopper", "Great, carry on!")
    for _ in range(4):  # the shop escalates after 3 unhelpful turns; the project's fallback answers
        assert await say(client, "what is the capital of peru?", sender="lost")
    assert await say(client, "I am sad", sender="sad") == cheer_up("sad")
    again = await say(client, "I am so sad", sender="sad")
    assert again and not any("queue" in m.get("text", "") for m in again), "two sad messages in a row"
    assert await client.app[DESK].counts() == {"pending": 0, "assigned": 0, "resolved": 0}
    # A shopper's explicit request still reaches a person.
    queued = await say(client, "/handoff", sender="asks")
    assert "queue" in queued[-1]["text"]
    assert (await say(client, "are you there?", sender="asks")) == text("asks", WAITING)


async def test_a_project_that_asks_for_escalation_gets_it(
    aiohttp_client: Any, starter_var: Path, tmp_path: Path
) -> None:
    client = await app_for(aiohttp_client, starter_var, STARTER, tmp_path, rasa_escalation="on")
    escalated = await say(client, "my day was horrible")
    assert escalated[:3] == cheer_up() and "queue" in escalated[3]["text"], "answered, then a person asked"
    for message in ("no", "I am feeling very good", "hello?"):
        assert await say(client, message) == text("shopper", WAITING), "never an empty reply while waiting"


PIZZA_DOMAIN = """version: "3.1"
intents: [order]
entities: [size]
slots:
  size:
    type: text
    mappings:
    - type: from_entity
      entity: size
actions: [action_order]
responses:
  utter_ordered:
  - text: "A {size} pizza is on its way."
"""
PIZZA_ACTION = '''from rasa_sdk import Action
from rasa_sdk.events import SlotSet


class ActionOrder(Action):
    def name(self):
        return "action_order"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(response="utter_ordered")
        return [SlotSet("size", tracker.get_slot("size"))]
'''


async def test_a_domain_directory_nested_data_and_its_own_actions(
    aiohttp_client: Any, selector_var: Path, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    shutil.copytree(SELECTOR, project)
    (project / "domain").mkdir()
    (project / "domain.yml").rename(project / "domain" / "domain.yml")
    write(project, {
        "domain/pizza.yml": PIZZA_DOMAIN,
        "data/pizza/rules.yml": ("rules:\n- rule: order\n  steps:\n  - intent: order\n"
                                 "  - action: action_order\n"),
        "actions/__init__.py": "", "actions/pizza.py": PIZZA_ACTION,
    })
    # The NLU data is the same, so the router trained for the example is current for this project.
    assert load_rasa_project(project).entries == load_rasa_project(SELECTOR).entries
    client = await app_for(aiohttp_client, selector_var, project, tmp_path)
    assert await say(client, '/order{"size": "large"}') == text("shopper", "A large pizza is on its way.")
    assert await say(client, "are you a bot?") == text("shopper", "I am a bot, powered by Rasa.")


async def test_stories_and_rules_follow_the_conversation(
    aiohttp_client: Any, context_var: Path, tmp_path: Path
) -> None:
    client = await app_for(aiohttp_client, context_var, FIXTURES / "contextbot", tmp_path)
    newsletter = await say(client, "hello")
    assert newsletter == [
        {"recipient_id": "shopper", "text": "Hello!"},
        {"recipient_id": "shopper", "text": "Would you like our newsletter?",
         "buttons": [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]},
    ], "the conversation_start rule"
    assert await say(client, newsletter[1]["buttons"][0]["payload"]) == text("shopper", "You are subscribed.")
    assert await say(client, "bye") == text("shopper", "Before you go: did I help?")
    assert await say(client, "/affirm") == text("shopper", "Thanks for the feedback!"), \
        "the same intent after another bot action: that story's next action"
    assert await say(client, "/affirm") == text("shopper", "Sorry, I did not follow."), \
        "no story continues there: the project's fallback"
    assert await say(client, "/help") == text("shopper", "I can tell you about plans and our newsletter.")
    assert await say(client, "/thanks") == text("shopper", "Glad that helped."), "a two-message rule"
    assert await say(client, "/thanks") == text("shopper", "You are welcome.")
    # Slots still fill from a button's entity, decide a rule's condition, and reset on restart.
    premium = await say(client, '/choose_plan{"plan": "premium"}')
    assert premium == text("shopper", "You are on the premium plan.")
    assert await say(client, "/greet") == text("shopper", "Welcome back, premium member.")
    assert await say(client, "/start_over") == text("shopper", "Let's start over.")
    assert await say(client, "/greet") == newsletter, "slots and history start over"
    assert await say(client, "/deny") == text("shopper", "No newsletter, then.")
    assert await say(client, "/greet", sender="other") == [
        {**m, "recipient_id": "other"} for m in newsletter], "each sender has its own conversation"
