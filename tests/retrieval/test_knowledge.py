"""Knowledge loaders: JSON, YAML and Rasa retrieval intents, and their validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import BadRequest
from core.settings import REPO_ROOT
from retrieval.knowledge import KnowledgeEntry, load_knowledge, load_rasa_knowledge

YAML_FAQ = """
- id: returns
  questions:
    - "  what is your returns policy?  "
    - can I send   something back
    - What is your returns policy?
  answer: "  You can return unused items within 30 days.  "
- id: handoff
  questions: [talk to a person]
  answer: null
"""

NLU = """
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hello
- intent: faq/ask_delivery
  examples: |
    - how long does delivery take?
    - can you deliver a [cookie jar](product) to [Spain]{"entity": "country"}
- synonym: cookie jar
  examples: |
    - biscuit jar
- intent: faq/ask_delivery
  examples: |
    - when will it arrive
"""

DOMAIN = """
version: "3.1"
responses:
  utter_greet:
  - image: "hello.png"
  utter_faq/ask_delivery:
  - text: "UK delivery takes 2-3 working days."
  - text: "Two to three working days in the UK."
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_entries_are_stripped_and_deduplicated(tmp_path: Path) -> None:
    entries = load_knowledge(write(tmp_path / "faq.yml", YAML_FAQ))
    assert entries == [
        KnowledgeEntry(
            id="returns",
            questions=("what is your returns policy?", "can I send something back"),
            answer="You can return unused items within 30 days.",
        ),
        KnowledgeEntry(id="handoff", questions=("talk to a person",), answer=None),
    ]


def test_json_gives_the_same_entries_as_yaml(tmp_path: Path) -> None:
    data = [{"id": "returns", "questions": ["what is your returns policy?"], "answer": "30 days."},
            {"id": "recommend", "questions": ["any gift ideas?"]}]
    entries = load_knowledge(write(tmp_path / "faq.json", json.dumps(data)))
    assert [(e.id, e.questions, e.answer) for e in entries] == [
        ("returns", ("what is your returns policy?",), "30 days."),
        ("recommend", ("any gift ideas?",), None),
    ]
    same = load_knowledge(write(tmp_path / "faq.yaml", json.dumps(data)))
    assert same == entries


def test_rasa_retrieval_intents(tmp_path: Path) -> None:
    entries = load_rasa_knowledge(write(tmp_path / "nlu.yml", NLU),
                                  write(tmp_path / "domain.yml", DOMAIN))
    assert entries == [KnowledgeEntry(
        id="faq/ask_delivery",
        questions=("how long does delivery take?", "can you deliver a cookie jar to Spain",
                   "when will it arrive"),
        answer="UK delivery takes 2-3 working days.",
    )]
    assert load_knowledge(tmp_path) == entries, "a directory is read as a Rasa project"


def test_the_bundled_rasa_example_loads() -> None:
    entries = load_knowledge(REPO_ROOT / "data" / "rasa_example")
    assert {e.id for e in entries} == {"faq/ask_delivery_time", "faq/ask_returns",
                                       "faq/ask_payment", "chitchat/ask_name"}
    assert all(e.answer and len(e.questions) >= 3 for e in entries)


@pytest.mark.parametrize(("body", "message"), [
    ("- questions: [hi]\n  answer: hello", "missing id"),
    ("- id: hi\n  questions: []\n  answer: hello", "non-empty list"),
    ("- id: hi\n  answer: hello", "non-empty list"),
    ("- id: hi\n  questions: hello\n  answer: hello", "non-empty list"),
    ("- id: hi\n  questions: [hi, 3]\n  answer: hello", "non-empty text"),
    ("- id: hi\n  questions: ['  ']\n  answer: hello", "non-empty text"),
    ("- id: 7\n  questions: [hi]\n  answer: hello", "id must be"),
    ("- id: two words\n  questions: [hi]\n  answer: hello", "id must be"),
    ("- id: hi\n  questions: [hi]\n  answer: 42", "answer must be"),
    ("- id: hi\n  questions: [hi]\n  answer: '  '", "answer must be"),
    ("- id: hi\n  question: [hi]\n  answer: hello", "unknown field"),
    ("- id: hi\n  questions: [hi]\n  answer: a\n- id: hi\n  questions: [ho]\n  answer: b",
     "duplicate id 'hi'"),
    ("id: hi", "expected a list"),
    ("- just a string", "expected a mapping"),
    ("- id: [unclosed", "not valid YML"),
])
def test_invalid_yaml_is_rejected(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        load_knowledge(write(tmp_path / "bad.yml", body))


def test_invalid_files_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(BadRequest, match="not valid JSON"):
        load_knowledge(write(tmp_path / "bad.json", "[{"))
    with pytest.raises(BadRequest, match="must be .json"):
        load_knowledge(write(tmp_path / "faq.txt", "[]"))
    with pytest.raises(BadRequest, match="cannot read"):
        load_knowledge(tmp_path / "missing.yml")


def test_invalid_rasa_projects_are_rejected(tmp_path: Path) -> None:
    nlu = write(tmp_path / "nlu.yml", NLU)
    with pytest.raises(BadRequest, match="needs domain.yml"):
        load_knowledge(tmp_path)
    no_text = write(tmp_path / "domain.yml",
                    "responses:\n  utter_faq/ask_delivery:\n  - image: x.png\n")
    with pytest.raises(BadRequest, match="no text response utter_faq/ask_delivery"):
        load_rasa_knowledge(nlu, no_text)
    with pytest.raises(BadRequest, match="'responses'"):
        load_rasa_knowledge(nlu, write(tmp_path / "d2.yml", "intents: [greet]\n"))
    empty_block = write(tmp_path / "n2.yml", "nlu:\n- intent: faq/x\n  examples: |\n    hi\n")
    domain = write(tmp_path / "d3.yml", "responses:\n  utter_faq/x:\n  - text: hello\n")
    with pytest.raises(BadRequest, match="non-empty list"):
        load_rasa_knowledge(empty_block, domain)
