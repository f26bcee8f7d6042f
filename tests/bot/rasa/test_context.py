"""Rules and stories followed in their context, as Rasa's RulePolicy and MemoizationPolicy follow them.

``contextbot`` (tests/fixtures/rasa/, written for these tests) answers ``affirm`` and ``deny``
differently after the newsletter question and after the feedback question, greets differently at
the conversation's start, later, and for a premium member, and thanks differently after help.
First the pure choice (``retrieval/rasa_flows.py: choose``), then a conversation through the
responder with its real slot store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import chain
from pathlib import Path
from typing import Any

import pytest

from bot.engine.interfaces import Decision, Slots, TurnContext
from bot.rasa.payload import extract_with_payloads
from bot.rasa.responder import RasaResponder, next_actions
from bot.rasa.slots import InProcessSlots
from core.turns import Route, RoutingScores
from retrieval.rasa_flows import ACTION, USER, History, choose, keep_events
from retrieval.rasa_project import RasaProject, load_rasa_project
from tests.retrieval.test_rasa_project import FIXTURES, write

CONTEXTBOT = FIXTURES / "contextbot"
NEWSLETTER = ("utter_greet", "utter_ask_newsletter")


@pytest.fixture(scope="module")
def project() -> RasaProject:
    return load_rasa_project(CONTEXTBOT)


def lived(*turns: tuple[str, Iterable[str]], keep: int = 100) -> History:
    """The history of a conversation: each message's intent and the actions that answered it."""
    history = History()
    for intent, actions in turns:
        history = history.after(intent, actions, keep)
    return history


def chosen(project: RasaProject, intent: str, history: History, slots: Mapping[str, Any] | None = None,
           max_history: int | None = 4) -> tuple[str, ...] | None:
    found = choose(project.continuations.get(intent, ()), intent, history, slots or {}, project.slots,
                   max_history)
    return None if found is None else found.actions


def test_the_project_is_read_with_its_context(project: RasaProject) -> None:
    assert project.max_history == 4, "config.yml's MemoizationPolicy max_history"
    assert not [i for i in project.issues if i.kind == "unsupported"], "every rule and story runs"
    assert project.turns["help"] == ("utter_help",), "an active_loop: null condition always holds"
    assert "affirm" not in project.turns and "deny" not in project.turns, "answered only in context"
    in_context = [i.message for i in project.issues if i.file == "data/stories.yml"]
    assert len(in_context) == 2 and all("answered only in the context" in m for m in in_context)
    # The longest look-back any rule or story needs: max_history 4 is the message and 3 events before.
    assert keep_events(chain.from_iterable(project.continuations.values()), project.max_history) == 3


def test_the_same_intent_continues_each_story(project: RasaProject) -> None:
    asked = lived(("greet", NEWSLETTER))
    assert chosen(project, "affirm", asked) == ("utter_subscribed",)
    assert chosen(project, "deny", asked) == ("utter_no_newsletter",)
    feedback = lived(("greet", NEWSLETTER), ("deny", ["utter_no_newsletter"]),
                     ("goodbye", ["utter_ask_feedback"]))
    assert chosen(project, "affirm", feedback) == ("utter_thanks",)
    assert chosen(project, "deny", feedback) == ("utter_sorry",)
    # The story starts with goodbye; met later in a conversation, its latest events still match
    # (the longest stretch that matches wins, as memoization backs off to shorter histories).
    assert chosen(project, "affirm", lived(("goodbye", ["utter_ask_feedback"]))) == ("utter_thanks",)
    assert chosen(project, "affirm", lived(("help", ["utter_help"]))) is None, "no story continues here"
    assert chosen(project, "affirm", History()) is None


def test_max_history_bounds_what_is_looked_back_on(project: RasaProject) -> None:
    asked = lived(("greet", NEWSLETTER))
    assert chosen(project, "affirm", asked, max_history=2) == ("utter_subscribed",), \
        "the last bot action alone tells the stories apart"
    assert chosen(project, "affirm", asked, max_history=1) is None, \
        "the message alone: the stories disagree, so neither is followed"
    assert chosen(project, "affirm", asked, max_history=None) == ("utter_subscribed",), "null: everything"


def test_rules_first_the_most_specific_one(project: RasaProject) -> None:
    assert chosen(project, "greet", History()) == NEWSLETTER, "conversation_start: the first message"
    later = lived(("help", ["utter_help"]))
    assert chosen(project, "greet", later) == ("utter_greet_again",), "not the first message any more"
    assert chosen(project, "greet", later, {"plan": "premium"}) == ("utter_greet_premium",), \
        "the rule whose slot condition holds is more specific"
    assert chosen(project, "greet", later, {"plan": "basic"}) == ("utter_greet_again",)
    # Trimmed to its latest events, a conversation's beginning is out of view.
    assert chosen(project, "greet", History((), trimmed=True)) == ("utter_greet_again",)
    assert chosen(project, "thanks", later) == ("utter_glad_it_helped",), "a two-message rule"
    not_after_help = lived(("help", ["utter_help"]), ("choose_plan", ["utter_plan_chosen"]))
    assert chosen(project, "thanks", not_after_help) == ("utter_you_are_welcome",)
    assert chosen(project, "thanks", History()) == ("utter_you_are_welcome",)


def test_a_retrieval_intent_follows_its_base_intents_rules(tmp_path: Path) -> None:
    project = load_rasa_project(write(tmp_path, {
        "domain.yml": ("intents: [greet, chitchat]\nresponses:\n  utter_greet:\n  - text: Hi\n"
                       "  utter_chitchat/ask_name:\n  - text: I am Bot\n  utter_again:\n  - text: Again?\n"),
        "data/nlu.yml": ("nlu:\n- intent: greet\n  examples: |\n    - hi\n- intent: chitchat/ask_name\n"
                         "  examples: |\n    - your name?\n"),
        "data/rules.yml": ("rules:\n- rule: chitchat\n  steps:\n  - intent: chitchat\n"
                           "  - action: utter_chitchat\n- rule: twice\n  steps:\n  - intent: chitchat\n"
                           "  - action: utter_chitchat\n"
                           "  - intent: chitchat\n  - action: utter_again\n"),
    }))
    assert next_actions(project, "chitchat/ask_name", History(), {}) == ("utter_chitchat/ask_name",)
    after = lived(("chitchat/ask_name", ["utter_chitchat/ask_name"]))
    assert next_actions(project, "chitchat/ask_name", after, {}) == ("utter_again",)


def turn(label: str, text: str, conversation: str = "c1", route: Route = Route.FAQ) -> TurnContext:
    return TurnContext(conversation, text, Decision(route, label, 0.9), RoutingScores((), (), ()),
                       extract_with_payloads(text), Slots(), {}, None)


async def say(responder: RasaResponder, label: str, text: str | None = None, conversation: str = "c1"
              ) -> list[str | None]:
    result = await responder.answer(turn(label, text or f"/{label}", conversation))
    return [m.text for m in result.messages]


async def test_a_conversation_follows_its_stories_and_rules(project: RasaProject) -> None:
    slots = InProcessSlots()
    bot = RasaResponder(project, slots, None)
    assert await say(bot, "greet", "hello") == ["Hello!", "Would you like our newsletter?"]
    assert await say(bot, "affirm", "yes") == ["You are subscribed."]
    assert await say(bot, "goodbye", "bye") == ["Before you go: did I help?"]
    assert await say(bot, "affirm", "yes") == ["Thanks for the feedback!"], "the same intent, another story"
    assert await say(bot, "help") == ["I can tell you about plans and our newsletter."]
    assert await say(bot, "thanks") == ["Glad that helped."]
    assert await say(bot, "thanks") == ["You are welcome."]
    stored = await slots.get("c1")
    assert stored is not None and stored.history.trimmed, "only the latest events are kept"
    assert stored.history.events == ((ACTION, "utter_glad_it_helped"), (USER, "thanks"),
                                     (ACTION, "utter_you_are_welcome"))
    # Slots still fill (from a button payload's entity) and decide which rule answers.
    premium = await say(bot, "choose_plan", '/choose_plan{"plan": "premium"}')
    assert premium == ["You are on the premium plan."]
    assert await say(bot, "greet", "hello") == ["Welcome back, premium member."]
    assert await say(bot, "start_over") == ["Let's start over."]
    stored = await slots.get("c1")
    assert stored is not None and stored.slots["plan"] is None and stored.history == History(), \
        "action_restart resets the slots and the history"
    assert await say(bot, "greet", "hello") == ["Hello!", "Would you like our newsletter?"], "a new start"
    assert await say(bot, "deny", "no") == ["No newsletter, then."]
    other = await say(bot, "greet", "hello", conversation="c2")
    assert other == ["Hello!", "Would you like our newsletter?"], "each conversation has its own history"


async def test_out_of_context_the_fallback_and_the_conversation_goes_on(project: RasaProject) -> None:
    bot = RasaResponder(project, InProcessSlots(), None)
    lost = await bot.answer(turn("affirm", "yes"))
    assert [m.text for m in lost.messages] == ["Sorry, I did not follow."] and not lost.answered
    assert await say(bot, "greet", "hello") == ["Hello!", "Would you like our newsletter?"], \
        "the fallback's message is reverted, as Rasa's action_default_fallback does: still the start"
    declined = await bot.decline(turn("out_of_scope", "what is the weather", route=Route.DECLINE))
    assert [m.text for m in declined.messages] == ["Sorry, I did not follow."] and not declined.answered
    assert await say(bot, "affirm", "yes") == ["You are subscribed."], "the question is still the context"
