"""Reading Rasa 3 projects: Rasa's own examples unchanged, every layout Rasa allows, and what is left out."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from core.errors import BadRequest
from core.settings import REPO_ROOT
from retrieval.rasa_flows import ACTION, CHANGED, START, UNSUPPORTED, USER
from retrieval.rasa_project import load_rasa_project

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "rasa"
SELECTOR = FIXTURES / "responseselectorbot"
STARTER = FIXTURES / "initial_project"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def nlu_examples(path: Path) -> dict[str, list[str]]:
    """The examples of an NLU file, read independently of the loader under test."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {item["intent"]: [line.strip()[2:] for line in item["examples"].splitlines() if line.strip()]
            for item in data["nlu"]}


def test_responseselectorbot_unchanged() -> None:
    project = load_rasa_project(SELECTOR)
    examples = nlu_examples(SELECTOR / "data" / "nlu.yml")
    assert {e.id: list(e.questions) for e in project.entries} == examples
    inline = yaml.safe_load((SELECTOR / "data" / "nlu.yml").read_text())["responses"]
    domain = yaml.safe_load((SELECTOR / "domain.yml").read_text())["responses"]
    # Responses from the domain and the ones written inline in the NLU file, variants kept whole.
    assert {k: [dict(v) for v in vs] for k, vs in project.responses.items()} == {**domain, **inline}
    assert project.turns["goodbye"] == ("utter_goodbye",)
    assert project.turns["bot_challenge"] == ("utter_iamabot",)
    # The rule `chitchat → utter_chitchat` answers each retrieval intent from its own responses.
    assert project.turns["chitchat/ask_name"] == ("utter_chitchat/ask_name",)
    assert project.turns["chitchat/ask_weather"] == ("utter_chitchat/ask_weather",)
    # Story messages answered the same way in every story run on their own.
    assert project.turns["mood_unhappy"] == ("utter_cheer_up", "utter_did_that_help")
    assert project.turns["greet"] == ("utter_greet",) and project.turns["deny"] == ("utter_goodbye",)
    answers = {e.id: e.answer for e in project.entries}
    assert answers["bot_challenge"] == "I am a bot, powered by Rasa."
    assert answers["chitchat/ask_name"] == "hello, my name is retrieval bot."
    assert project.action_endpoint == "" and project.actions_path is None
    # Each story message runs after the events before it in its story (Rasa's memoization); the
    # stories never disagree after the same events, so none of them is listed.
    assert not [i for i in project.issues if i.file == "data/stories.yml"], "every story runs in its context"
    [affirm] = project.continuations["affirm"]
    assert (affirm.kind, affirm.name, affirm.where, affirm.actions) == (
        "story", "sad path 1", "data/stories.yml:19", ("utter_happy",))
    assert affirm.context == ((START, ()), (USER, ("greet",)), (ACTION, ("utter_greet",)),
                              (USER, ("mood_unhappy",)), (ACTION, ("utter_cheer_up",)),
                              (ACTION, ("utter_did_that_help",))), "from the story's beginning"
    assert {(i.file, i.line) for i in project.issues if i.file == "config.yml"} == {
        ("config.yml", 5), ("config.yml", 14)}, "the pipeline and the policies are listed"
    policies = next(i for i in project.issues if (i.file, i.line) == ("config.yml", 14))
    assert "in their context" in policies.message and "(max_history 5)" in policies.message
    assert project.max_history == 5, "MemoizationPolicy without max_history: Rasa's default"
    assert not [i for i in project.issues if i.kind == UNSUPPORTED]


def test_rasa_init_starter_project_unchanged() -> None:
    project = load_rasa_project(STARTER)
    assert {e.id: list(e.questions) for e in project.entries} == nlu_examples(STARTER / "data" / "nlu.yml")
    assert project.turns == {
        "goodbye": ("utter_goodbye",), "bot_challenge": ("utter_iamabot",), "greet": ("utter_greet",),
        "mood_great": ("utter_happy",), "mood_unhappy": ("utter_cheer_up", "utter_did_that_help"),
        "affirm": ("utter_happy",), "deny": ("utter_goodbye",),
    }
    assert project.actions_path == STARTER / "actions", "rasa init's actions package is found"
    assert all(not i.file.startswith("tests/") for i in project.issues), "test stories are not training data"


def test_domain_directory_nested_data_and_responses_anywhere(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "domain/intents.yml": "version: '3.1'\nintents: [greet, faq]\n",
        "domain/nested/responses.yml": ("responses:\n  utter_greet:\n  - text: Hi {name}!\n"
                                        "  - text: Hello!\n    buttons:\n    - title: Yes\n"
                                        "      payload: '/affirm{\"answer\": \"yes\"}'\n"),
        "domain/slots.yml": ("slots:\n  name:\n    type: text\n    initial_value: friend\n"
                             "    mappings:\n    - type: from_entity\n      entity: name\n"),
        "data/nlu/basics.yml": "nlu:\n- intent: greet\n  examples: |\n    - hi\n    - hello [Ann](name)\n",
        "data/nlu/faq/faq.yml": ("nlu:\n- intent: faq/hours\n  examples:\n  - text: when are you open\n"
                                 "  - text: opening hours\nresponses:\n  utter_faq/hours:\n"
                                 "  - text: 9 to 5.\n"),
        "data/core/rules.yml": ("rules:\n- rule: greet\n  steps:\n  - or:\n    - intent: greet\n"
                                "    - intent: hello\n  - action: utter_greet\n"),
    })
    project = load_rasa_project(root)
    assert {e.id: e.questions for e in project.entries} == {
        "greet": ("hi", "hello Ann"), "faq/hours": ("when are you open", "opening hours")}
    assert project.turns["greet"] == project.turns["hello"] == ("utter_greet",)
    assert project.turns["faq/hours"] == ("utter_faq/hours",), "a retrieval intent needs no rule"
    assert project.slots["name"]["initial_value"] == "friend"
    assert project.responses["utter_greet"][1]["buttons"][0]["title"] == "Yes", "YAML 1.2: Yes is text"
    entity_note = next(i for i in project.issues if "annotated" in i.message)
    assert (entity_note.file, entity_note.line, entity_note.kind) == ("data/nlu/basics.yml", 2, CHANGED)
    assert not [i for i in project.issues if i.message.startswith("slot name")], \
        "an example annotates entity name: the extractor fills the slot from typed text"
    assert [s.value for e in project.nlu.examples for s in e.entities] == ["Ann"]


FORMS_PROJECT = {
    "domain.yml": """version: "3.1"
intents: [greet, order, inform, affirm, deny, thanks]
entities: [size]
slots:
  size:
    type: text
    mappings:
    - type: from_entity
      entity: size
      conditions:
      - active_loop: order_form
forms:
  order_form:
    required_slots: [size]
actions: [action_submit]
responses:
  utter_greet:
  - text: Hello
  utter_ok:
  - text: OK
  utter_no:
  - text: No
  utter_thanks:
  - text: You are welcome
""",
    "config.yml": """language: en
pipeline: []
policies:
- name: RulePolicy
- name: my_policies.CleverPolicy
""",
    "data/nlu.yml": """nlu:
- intent: greet
  examples: |
    - hi
- intent: order
  examples: |
    - I want a pizza
- intent: affirm
  examples: |
    - yes
- intent: deny
  examples: |
    - no
- intent: thanks
  examples: |
    - thanks
- synonym: large
  examples: |
    - big
""",
    "data/rules.yml": """rules:
- rule: greet
  steps:
  - intent: greet
  - action: utter_greet
- rule: start the form
  steps:
  - intent: order
  - action: order_form
  - active_loop: order_form
- rule: submit
  condition:
  - active_loop: order_form
  steps:
  - action: order_form
  - active_loop: null
  - action: action_submit
""",
    "data/stories.yml": """stories:
- story: yes after greeting
  steps:
  - intent: greet
  - action: utter_greet
  - intent: affirm
  - action: utter_ok
- story: yes after a question
  steps:
  - intent: deny
  - action: utter_no
  - intent: affirm
  - action: utter_no
- story: thanks
  steps:
  - intent: thanks
  - action: utter_thanks
- story: linked
  steps:
  - checkpoint: start
  - intent: thanks
  - action: utter_thanks
- story: no to yes after greeting
  steps:
  - intent: greet
  - action: utter_greet
  - intent: affirm
  - action: utter_no
""",
}


def test_unsupported_parts_are_listed_with_file_and_line(tmp_path: Path) -> None:
    project = load_rasa_project(write(tmp_path, FORMS_PROJECT))
    found = {(i.file, i.line, i.kind): i.message for i in project.issues}
    expected = {
        ("config.yml", 2, CHANGED): "NLU pipeline",
        ("config.yml", 3, CHANGED): "policies",
        ("config.yml", 5, UNSUPPORTED): "custom policy my_policies.CleverPolicy",
        ("data/nlu.yml", 17, UNSUPPORTED): "synonym 'large'",
        ("data/rules.yml", 11, UNSUPPORTED): "rule 'submit' is not run",
        ("data/stories.yml", 6, UNSUPPORTED): "stories answer affirm in different ways after the same events",
        ("data/stories.yml", 6, CHANGED): "intent affirm is answered only in the context",
        ("data/stories.yml", 18, UNSUPPORTED): "story 'linked' is not run",
    }
    for key, start in expected.items():
        assert key in found and start in found[key], (key, sorted(found))
    # The form runs (its activation rule is no issue); its submit rule needs an action it cannot run.
    assert not [k for k in found if k[0] == "data/rules.yml" and k[1] == 6]
    assert "action action_submit: no action server" in found[("data/rules.yml", 11, UNSUPPORTED)]
    assert "no example annotates it" in found[("domain.yml", 8, CHANGED)], "no annotation: payloads only"
    assert "checkpoint" in found[("data/stories.yml", 18, UNSUPPORTED)]
    # Two stories answer affirm differently after the same greeting: neither can be followed there.
    contested = found[("data/stories.yml", 6, UNSUPPORTED)]
    assert "data/stories.yml:6 → utter_ok" in contested and "data/stories.yml:27 → utter_no" in contested
    assert "data/stories.yml:12" not in contested, "after deny it is another context: that story runs"
    assert "dialogue context" not in " ".join(found.values()), "multi-message stories run in their context"
    assert not [k for k in found if k[0] == "data/stories.yml" and k[1] in (2, 8, 23)], \
        "the stories that run are not listed"
    # What runs anywhere: the rule, the agreed story messages, not the contested or the form's intent;
    # affirm only after the events its stories give it.
    assert project.turns == {"greet": ("utter_greet",), "order": ("order_form",), "deny": ("utter_no",),
                             "thanks": ("utter_thanks",)}
    assert [(c.where, c.actions) for c in project.continuations["affirm"]] == [
        ("data/stories.yml:6", ("utter_ok",)), ("data/stories.yml:12", ("utter_no",)),
        ("data/stories.yml:27", ("utter_no",))]
    assert not any(i.message.startswith("intent order: no rule or story") for i in project.issues), \
        "the rule starting the form answers it"


RULES_AND_STORIES = {
    "domain.yml": ("intents: [greet, affirm, thanks]\nresponses:\n  utter_greet:\n  - text: Hi\n"
                   "  utter_ok:\n  - text: OK\n  utter_yes:\n  - text: Yes!\n  utter_welcome:\n"
                   "  - text: Welcome\n  utter_cheers:\n  - text: Cheers\n"),
    "config.yml": "policies:\n- name: AugmentedMemoizationPolicy\n  max_history: null\n- name: RulePolicy\n",
    "data/nlu.yml": ("nlu:\n- intent: greet\n  examples: |\n    - hi\n- intent: affirm\n  examples: |\n"
                     "    - yes\n- intent: thanks\n  examples: |\n    - thanks\n"),
    "data/rules.yml": """rules:
- rule: yes
  steps:
  - intent: affirm
  - action: utter_ok
- rule: thanks
  steps:
  - intent: thanks
  - action: utter_welcome
- rule: thanks, again
  steps:
  - intent: thanks
  - action: utter_cheers
""",
    "data/stories.yml": """stories:
- story: yes after hello
  steps:
  - intent: greet
  - action: utter_greet
  - intent: affirm
  - action: utter_yes
""",
}


def test_rules_win_over_stories_and_contradicting_rules_are_listed(tmp_path: Path) -> None:
    project = load_rasa_project(write(tmp_path, RULES_AND_STORIES))
    assert project.max_history is None, "max_history: null looks back on the whole conversation"
    found = {(i.file, i.line, i.kind): i.message for i in project.issues}
    assert "(the whole conversation)" in found[("config.yml", 1, CHANGED)]
    # The story's second message: the one-message rule answers affirm there too, and wins (RulePolicy).
    wins = found[("data/stories.yml", 6, CHANGED)]
    assert "answers affirm with utter_yes" in wins and "'yes' at data/rules.yml:4" in wins, wins
    assert [c.actions for c in project.continuations["affirm"]] == [("utter_ok",), ("utter_yes",)]
    assert project.turns["affirm"] == ("utter_ok",), "the rule answers anywhere"
    # Two rules answer thanks differently in the same (any) context: Rasa refuses them; thanks is
    # answered nowhere and listed as such.
    contradicting = found[("data/rules.yml", 8, UNSUPPORTED)]
    assert "rules answer thanks in different ways" in contradicting
    assert "data/rules.yml:8 → utter_welcome" in contradicting
    assert "data/rules.yml:12 → utter_cheers" in contradicting
    assert "thanks" not in project.turns and "thanks" not in project.continuations
    assert found[("data/nlu.yml", 8, CHANGED)].startswith("intent thanks: no rule or story that Shopbot runs")


def test_action_server_from_endpoints_with_environment_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(STARTER, tmp_path / "bot")
    (tmp_path / "bot" / "endpoints.yml").write_text(
        'action_endpoint:\n  url: "http://${ACTIONS_HOST}:5055/webhook"\ntracker_store:\n  type: redis\n')
    monkeypatch.setenv("ACTIONS_HOST", "actions.internal")
    project = load_rasa_project(tmp_path / "bot")
    assert project.action_endpoint == "http://actions.internal:5055/webhook"
    assert ("endpoints.yml", 3, CHANGED) in {(i.file, i.line, i.kind) for i in project.issues}
    monkeypatch.delenv("ACTIONS_HOST")
    with pytest.raises(BadRequest, match="endpoints.yml:2: environment variable ACTIONS_HOST is not set"):
        load_rasa_project(tmp_path / "bot")


def test_custom_actions_without_a_server_or_package_are_listed(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "domain.yml": "intents: [hello]\nactions: [action_hello]\n",
        "data/nlu.yml": "nlu:\n- intent: hello\n  examples: |\n    - hello\n",
        "data/rules.yml": "rules:\n- rule: hello\n  steps:\n  - intent: hello\n  - action: action_hello\n",
    })
    project = load_rasa_project(root)
    issue = next(i for i in project.issues if i.kind == UNSUPPORTED)
    assert (issue.file, issue.line) == ("data/rules.yml", 2)
    assert "no action server in endpoints.yml and no actions package" in issue.message
    write(root, {"actions.py": "# the project's actions\n"})
    assert load_rasa_project(root).turns["hello"] == ("action_hello",)


@pytest.mark.parametrize(("files", "message"), [
    ({"data/nlu.yml": "nlu: []\n"}, "no domain.yml, domain.yaml or domain/ directory"),
    ({"domain.yml": "intents: [a]\n"}, "no data/ directory"),
    ({"domain.yml": "intents: [a\n", "data/nlu.yml": "nlu: []\n"}, r"domain.yml:2: not valid YAML"),
    ({"domain.yml": "- a\n", "data/nlu.yml": "nlu: []\n"}, "domain.yml: expected a mapping"),
    ({"domain.yml": "responses:\n  utter_a: hello\n", "data/x.yml": "nlu: []\n"},
     "domain.yml:2: response utter_a must be a list"),
    ({"domain.yml": "intents: [a]\n", "data/nlu.yml": "nlu:\n- intent: a\n"},
     "data/nlu.yml:2: intent a needs 'examples'"),
    ({"domain.yml": "intents: [a]\n",
      "data/nlu.yml": "nlu:\n- intent: a\n  examples: |\n    - x\n  bad: a: b\n"},
     "data/nlu.yml:5: not valid YAML: mapping values are not allowed here"),
    ({"domain.yml": "intents: [a]\n", "data/nlu.yml": "version: '3.1'\n"}, "no intents with examples"),
    ({"domain.yml": "intents: a\n", "data/nlu.yml": "nlu: []\n"}, "domain.yml:1: 'intents' must be a list"),
    ({"domain.yml": "intents: [a]\n", "data/nlu.yml": "nlu:\n- intent: a\n  examples: |\n    - x\n",
      "config.yml": "policies:\n- name: MemoizationPolicy\n  max_history: 0\n"},
     "config.yml:3: max_history must be a whole number of 1 or more, or null"),
])
def test_broken_projects_get_a_clear_error(tmp_path: Path, files: dict[str, str], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        load_rasa_project(write(tmp_path, files))


def test_a_file_is_not_a_project(tmp_path: Path) -> None:
    with pytest.raises(BadRequest, match="not a directory"):
        load_rasa_project(write(tmp_path, {"domain.yml": "intents: []\n"}) / "domain.yml")


def test_an_intent_without_examples_is_listed(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "domain.yml": "intents: [a, b]\nresponses:\n  utter_a:\n  - text: A\n",
        "data/nlu.yml": "nlu:\n- intent: a\n  examples: |\n    - aaa\n- intent: b\n  examples: |\n    -\n",
        "data/rules.yml": "rules:\n- rule: a\n  steps:\n  - intent: a\n  - action: utter_a\n",
    })
    project = load_rasa_project(root)
    assert [e.id for e in project.entries] == ["a"]
    assert [(i.file, i.line, i.kind) for i in project.issues] == [("data/nlu.yml", 5, UNSUPPORTED)]
