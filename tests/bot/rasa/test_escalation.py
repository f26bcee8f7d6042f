"""Whether the shop's automatic escalation applies to a Rasa project (SHOPBOT_RASA_ESCALATION)."""

from __future__ import annotations

import pytest
import yaml

from bot.handoff.escalation import EscalationPolicy, Reason
from bot.rasa.escalation import automatic_escalation, handoff_names
from core.turns import Route
from tests.retrieval.test_rasa_project import SELECTOR, STARTER


def domain(path: str) -> dict[str, object]:
    loaded: dict[str, object] = yaml.safe_load(path)
    return loaded


def test_rasa_init_and_the_selector_example_ask_for_no_handoff() -> None:
    for project in (STARTER, SELECTOR):
        found = yaml.safe_load((project / "domain.yml").read_text())
        assert handoff_names(found) == [], f"{project.name}: bot_challenge is not a handoff"
        assert automatic_escalation("auto", found) is False
        assert automatic_escalation("on", found) is True


@pytest.mark.parametrize("text, names", [
    ("intents: [greet, human_handoff]", ["human_handoff"]),
    ("intents:\n- greet\n- talk_to_human:\n    use_entities: []", ["talk_to_human"]),
    ("actions: [action_live_agent]", ["action_live_agent"]),
    ("responses:\n  utter_handoff:\n  - text: One moment.", ["utter_handoff"]),
    ("intents: [request-agent]", ["request-agent"]),
    ("intents: [useragent, handoffs_report, humanity]\nactions: [action_agenda]", []),
])
def test_auto_reads_a_handoff_intent_action_or_response_off_the_domain(text: str, names: list[str]) -> None:
    found = domain(text)
    assert handoff_names(found) == names
    assert automatic_escalation("auto", found) is bool(names)
    assert automatic_escalation("off", found) is False


def test_without_automatic_escalation_only_a_request_escalates() -> None:
    shop, project = EscalationPolicy(3), EscalationPolicy(3, automatic=False)
    assert shop.reason(Route.FAQ, 0, negative=True) is Reason.NEGATIVE_SENTIMENT
    assert shop.reason(Route.DECLINE, 3, negative=False) is Reason.UNANSWERED
    assert project.reason(Route.FAQ, 0, negative=True) is None
    assert project.reason(Route.DECLINE, 10, negative=False) is None
    assert project.reason(Route.HANDOFF, 0, negative=False) is Reason.REQUESTED
