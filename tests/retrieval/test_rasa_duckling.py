"""The Duckling stand-in: numbers, ordinals and e-mail addresses as DucklingEntityExtractor reports
them, and a project's pipeline asking for it."""

from __future__ import annotations

from pathlib import Path

from retrieval.rasa_duckling import DucklingStandIn
from retrieval.rasa_entities import project_extractors
from retrieval.rasa_flows import CHANGED, UNSUPPORTED
from retrieval.rasa_project import load_rasa_project
from tests.retrieval.test_rasa_project import FIXTURES, write


def found(text: str, *dimensions: str) -> list[tuple[str, object, str]]:
    entities = DucklingStandIn(dimensions or ("number", "ordinal", "email")).run(text)
    return [(e["entity"], e["value"], text[e["start"]:e["end"]]) for e in entities]


def test_numbers_in_digits_and_words_ordinals_and_addresses() -> None:
    assert found("a table for four") == [("number", 4, "four")]
    assert found("book for 12 people at 7.5") == [("number", 12, "12"), ("number", 7.5, "7.5")]
    assert found("one hundred and two guests") == [("number", 102, "one hundred and two")]
    assert found("twenty-five and 1,000") == [("number", 25, "twenty-five"), ("number", 1000, "1,000")]
    assert found("the 3rd, not the second") == [("ordinal", 3, "3rd"), ("ordinal", 2, "second")]
    assert found("write to ann.lee+shop@example.co.uk") == [
        ("email", "ann.lee+shop@example.co.uk", "ann.lee+shop@example.co.uk")]
    assert found("and then nothing, anyone?") == [], "no number word, no number"
    assert found("the 3rd of four", "number") == [("number", 4, "four")], "only the dimensions asked for"
    entity = DucklingStandIn(["number"]).run("for three")[0]
    assert entity["extractor"] == "DucklingEntityExtractor" and entity["confidence_entity"] == 1.0


def test_a_pipeline_with_duckling_gets_the_dimensions_read_here_and_lists_the_rest(tmp_path: Path) -> None:
    root = write(tmp_path / "p", {
        "domain.yml": ("intents: [book]\nentities: [number]\nslots:\n  guests:\n    type: float\n"
                       "    mappings:\n    - type: from_entity\n      entity: number\n"
                       "responses:\n  utter_ok:\n  - text: OK\n"),
        "config.yml": ("pipeline:\n- name: WhitespaceTokenizer\n- name: DucklingEntityExtractor\n"
                       "  url: http://localhost:8000\n  dimensions: [number, time]\n"),
        "data/nlu.yml": "nlu:\n- intent: book\n  examples: |\n    - a table for two\n    - book for 4\n",
        "data/rules.yml": "rules:\n- rule: book\n  steps:\n  - intent: book\n  - action: utter_ok\n",
    })
    project = load_rasa_project(root)
    assert project.duckling == {"number"}
    listed = {(i.file, i.line, i.kind): i.message for i in project.issues}
    assert "number read by Shopbot in process" in listed[("config.yml", 3, CHANGED)]
    assert "dimensions time are not extracted" in listed[("config.yml", 3, UNSUPPORTED)]
    assert not [m for m in listed.values() if m.startswith("slot guests")], "number is found in typed text"
    extractors = project_extractors(project.nlu, tmp_path / "entities", project.duckling)
    assert extractors is not None
    extractors.warm_up()
    assert [(e["entity"], e["value"]) for e in extractors.run("a table for six")] == [("number", 6)]


def test_formbot_takes_its_numbers_from_duckling_as_rasas_does() -> None:
    project = load_rasa_project(FIXTURES / "formbot")
    assert project.duckling == {"number"}
    assert "number" not in project.nlu.entity_names, "no example annotates a number"
