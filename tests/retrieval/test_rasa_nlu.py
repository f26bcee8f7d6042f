"""Rasa NLU training data with entities: every annotation form, synonyms, regexes, lookup tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.rasa_flows import CHANGED, UNSUPPORTED
from retrieval.rasa_nlu import EntitySpan, parse_annotated, plain_text
from retrieval.rasa_project import load_rasa_project


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def covered(text: str, spans: tuple[EntitySpan, ...]) -> list[tuple[str, str]]:
    return [(text[s.start:s.end], s.entity) for s in spans]


@pytest.mark.parametrize(("line", "text", "spans"), [
    ("show me [Berlin](location) please", "show me Berlin please",
     [EntitySpan(8, 14, "location", "Berlin")]),
    ("a flight to [NYC](city:New York)", "a flight to NYC", [EntitySpan(12, 15, "city", "New York")]),
    ('from [Rome]{"entity": "city", "role": "departure", "group": "1"} to [Oslo]{"entity": "city", '
     '"value": "Oslo, Norway", "role": "destination"}', "from Rome to Oslo",
     [EntitySpan(5, 9, "city", "Rome", "departure", "1"),
      EntitySpan(13, 17, "city", "Oslo, Norway", "destination")]),
    ('a [large]{"entity": "size", "value": 3} [pepperoni pizza][{"entity": "topping"}, '
     '{"entity": "dish", "value": "pizza", "group": "2"}]', "a large pepperoni pizza",
     [EntitySpan(2, 7, "size", "3"), EntitySpan(8, 23, "topping", "pepperoni pizza"),
      EntitySpan(8, 23, "dish", "pizza", None, "2")]),
    ("[two](number) [new york](city) tickets", "two new york tickets",
     [EntitySpan(0, 3, "number", "two"), EntitySpan(4, 12, "city", "new york")]),
    ("no entities here", "no entities here", []),
])
def test_annotation_forms_give_text_and_offsets(line: str, text: str, spans: list[EntitySpan]) -> None:
    parsed = parse_annotated(line)
    assert parsed.text == text == plain_text(line)
    assert list(parsed.entities) == spans and not parsed.problems
    for span in parsed.entities:
        assert parsed.text[span.start:span.end] in line, "offsets point at the annotated words"


def test_offsets_survive_stripping_and_bad_annotations_are_reported() -> None:
    edge = parse_annotated("[ Berlin](city) now")
    assert edge.text == "Berlin now" == plain_text("[ Berlin](city) now")
    assert covered(edge.text, edge.entities) == [("Berlin", "city")]
    bad = parse_annotated('in [Paris]{"entity": city} and [Rome]{"role": "x"} or [Oslo](city)')
    assert bad.text == "in Paris and Rome or Oslo"
    assert covered(bad.text, bad.entities) == [("Oslo", "city")]
    assert len(bad.problems) == 2 and "not valid JSON" in bad.problems[0] and '"entity"' in bad.problems[1]


NLU_SPLIT = {
    "domain.yml": "intents: [greet, order]\nentities: [cuisine, zipcode, size]\nresponses:\n"
                  "  utter_greet:\n  - text: Hi\n",
    # Synonyms, regexes and lookup tables before the annotations that make them useful.
    "data/a_tables.yml": """nlu:
- synonym: vegetarian
  examples: |
    - veggie
    - Vegan-ish
- regex: zipcode
  examples: |
    - \\d{5}
- regex: broken
  examples: |
    - (unclosed
- lookup: cuisine
  examples: |
    - thai
    - ethiopian
- lookup: dish
  examples:
  - pad thai
  - text: injera
""",
    "data/b_nlu.yml": """nlu:
- intent: greet
  examples: |
    - hi
- intent: order
  examples: |
    - a [veggie](cuisine) meal to [12345](zipcode)
    - [big](size:large) [thai](cuisine) please
    - [VEGGIE]{"entity": "cuisine", "value": "vegetarian"} food
""",
}


def test_synonyms_regexes_lookups_are_read_and_listed_by_use(tmp_path: Path) -> None:
    project = load_rasa_project(write(tmp_path, NLU_SPLIT))
    nlu = project.nlu
    # The router's text is as before: the examples without markup.
    assert {e.id: list(e.questions) for e in project.entries} == {
        "greet": ["hi"], "order": ["a veggie meal to 12345", "big thai please", "VEGGIE food"]}
    assert [(ex.intent, covered(ex.text, ex.entities)) for ex in nlu.examples] == [
        ("greet", []), ("order", [("veggie", "cuisine"), ("12345", "zipcode")]),
        ("order", [("big", "size"), ("thai", "cuisine")]), ("order", [("VEGGIE", "cuisine")])]
    assert nlu.entity_names == {"cuisine", "zipcode", "size"}
    assert nlu.synonyms == (("veggie", "vegetarian"), ("Vegan-ish", "vegetarian"))
    assert [(p.name, p.items) for p in nlu.regexes] == [("zipcode", (r"\d{5}",)), ("broken", ())]
    assert [(p.name, p.items) for p in nlu.lookups] == [
        ("cuisine", ("thai", "ethiopian")), ("dish", ("pad thai", "injera"))]
    # Case-blind, annotated values included (big → large), as EntitySynonymMapper learns them.
    assert nlu.synonym_map() == {"veggie": "vegetarian", "vegan-ish": "vegetarian", "big": "large"}
    found = {(i.file, i.line, i.kind): i.message for i in project.issues}
    # The annotations come in a later file: the tables are used, and nothing says otherwise.
    assert not [m for m in found.values() if "not used: no example annotates" in m]
    assert ("data/a_tables.yml", 2, UNSUPPORTED) not in found, "synonyms run as in Rasa"
    assert "its matches are entity zipcode" in found[("data/a_tables.yml", 6, CHANGED)]
    assert "its matches are entity cuisine" in found[("data/a_tables.yml", 12, CHANGED)]
    assert "its matches" not in found[("data/a_tables.yml", 16, CHANGED)], "dish is not annotated"
    assert "(unclosed" in found[("data/a_tables.yml", 9, UNSUPPORTED)]
    learned = [(i.line, i.kind) for i in project.issues if "by Shopbot's entity extractor" in i.message]
    assert learned == [(5, CHANGED)]


def test_without_annotations_the_tables_are_listed_unused(tmp_path: Path) -> None:
    files = dict(NLU_SPLIT)
    files["data/b_nlu.yml"] = "nlu:\n- intent: greet\n  examples: |\n    - hi\n- intent: order\n" \
                              "  examples: |\n    - a veggie meal\n    - '[thai]{bad json} please'\n"
    project = load_rasa_project(write(tmp_path, files))
    assert not project.nlu.annotated and project.nlu.entity_names == frozenset()
    unused = sorted((i.line, i.message.split(" is not used")[0]) for i in project.issues
                    if i.kind == UNSUPPORTED and "no example annotates" in i.message)
    assert unused == [(2, "synonym 'vegetarian'"), (6, "regex 'zipcode'"), (9, "regex 'broken'"),
                      (12, "lookup 'cuisine'"), (16, "lookup 'dish'")]
    assert any(i.file == "data/b_nlu.yml" and "not valid JSON" in i.message for i in project.issues)


def test_fingerprint_follows_the_data(tmp_path: Path) -> None:
    first = load_rasa_project(write(tmp_path / "a", NLU_SPLIT)).nlu
    again = load_rasa_project(write(tmp_path / "b", NLU_SPLIT)).nlu
    assert first.fingerprint() == again.fingerprint()
    changed = dict(NLU_SPLIT)
    changed["data/b_nlu.yml"] = NLU_SPLIT["data/b_nlu.yml"].replace("[thai](cuisine)", "[thai](dish)")
    assert load_rasa_project(write(tmp_path / "c", changed)).nlu.fingerprint() != first.fingerprint()
