"""The entity extractor trained on a project's annotated examples: unseen phrasings, synonyms,
regexes, lookup tables, roles, saved models rebuilt only on change, and cross-validation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.rasa.ports import EntityExtractor
from core.errors import BadRequest, NotReady
from retrieval.rasa_entities import (
    EXTRACTOR,
    REGEX_EXTRACTOR,
    CrfEntityExtractor,
    cross_validate_entities,
    entity_extractor,
    fingerprint,
    stratified_folds,
    tokenize,
    train_entities,
)
from retrieval.rasa_nlu import Example, NluData
from retrieval.rasa_project import load_rasa_project

CUISINES = ["italian", "chinese", "mexican", "indian", "french", "japanese", "greek", "spanish", "korean"]
PLACES = ["Berlin", "Paris", "Madrid", "London", "Vienna", "Munich", "Prague", "Dublin", "Zurich"]
PEOPLE = ["two", "three", "four", "2", "3", "4", "5", "six", "8"]
SEARCH = ["find me a {c} restaurant in {l}", "i want {c} food in {l}", "any good {c} places near {l}",
          "show me {c} restaurants around {l}", "where can i eat {c} in {l}",
          "looking for a {c} place in {l}", "{c} food in {l} please", "recommend a {c} restaurant in {l}"]
BOOK = ["book a table for {n} people", "a table for {n} please", "reserve for {n} at 8 pm",
        "we are {n} people", "can i get a table for {n} tonight"]
TRAVEL = ["fly from {a} to {b}", "a ticket from {a} to {b}", "i need to go from {a} to {b}",
          "train from {a} to {b} tomorrow", "get me from {a} to {b}"]
GREET = ["hi", "hello there", "good morning", "hey", "hi bot", "good evening", "hello", "hey there"]


def city(name: str, role: str) -> str:
    return f'[{name}]{{"entity": "city", "role": "{role}"}}'


def project_files() -> dict[str, str]:
    search = [t.format(c=f"[{CUISINES[(i + k) % 9]}](cuisine)", l=f"[{PLACES[(i * 2 + k) % 9]}](location)")
              for i, t in enumerate(SEARCH) for k in range(0, 9, 2)]
    search += ["some [veggie](cuisine:vegetarian) food in [Paris](location)",
               "a [VEG](cuisine) place near [Dublin](location)"]
    book = [t.format(n=f"[{PEOPLE[(i + k) % 9]}](people)")
            for i, t in enumerate(BOOK) for k in range(0, 9, 2)]
    travel = [t.format(a=city(PLACES[(i + k) % 9], "departure"),
                       b=city(PLACES[(i + k + 4) % 9], "destination"))
              for i, t in enumerate(TRAVEL) for k in range(0, 9, 2)]
    deliver = [f"deliver to [{z}](zipcode)" for z in ("10115", "80331", "20095")] + \
              [f"my zip is [{z}](zipcode)" for z in ("50667", "60311")]

    def block(intent: str, lines: list[str]) -> str:
        return f"- intent: {intent}\n  examples: |\n" + "".join(f"    - {line}\n" for line in lines)

    nlu = "nlu:\n" + block("search", search) + block("book", book) + block("travel", travel) + \
        block("deliver", deliver) + block("greet", GREET) + """- synonym: vegetarian
  examples: |
    - veg
- regex: zipcode
  examples: |
    - \\b\\d{5}\\b
- lookup: cuisine
  examples: |
    - ethiopian
    - peruvian
    - italian
    - veg
"""
    return {"domain.yml": "intents: [search, book, travel, deliver, greet]\n"
                          "entities: [cuisine, location, people, city, zipcode]\n",
            "data/nlu.yml": nlu}


@pytest.fixture(scope="module")
def nlu(tmp_path_factory: pytest.TempPathFactory) -> NluData:
    root = tmp_path_factory.mktemp("project")
    for name, text in project_files().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return load_rasa_project(root).nlu


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def extractor(nlu: NluData, models: Path) -> CrfEntityExtractor:
    found = entity_extractor(nlu, models)
    assert found is not None
    found.warm_up()
    return found


def spans(entities: tuple[dict[str, Any], ...], text: str) -> set[tuple[str, str]]:
    return {(e["entity"], text[e["start"]:e["end"]]) for e in entities}


# Phrasings and values the project never shows (Lisbon, Oslo, vietnamese, seven, ...).
UNSEEN = [
    ("is there a vietnamese restaurant in Lisbon", {("cuisine", "vietnamese"), ("location", "Lisbon")}),
    ("i am looking for thai food near Oslo", {("cuisine", "thai"), ("location", "Oslo")}),
    ("could you book a table for seven", {("people", "seven")}),
    ("we would be 6 people", {("people", "6")}),
    ("from Rome to Stockholm please", {("city", "Rome"), ("city", "Stockholm")}),
    ("hello friend", set()),
]


def test_finds_entities_in_unseen_phrasings(extractor: CrfEntityExtractor) -> None:
    hits = total = wrong = 0
    for text, expected in UNSEEN:
        found = extractor.run(text)
        got = spans(found, text)
        hits += len(got & expected)
        total += len(expected)
        wrong += len(got - expected)
        for entity in found:
            assert entity["value"] == text[entity["start"]:entity["end"]]
            assert 0.0 < entity["confidence_entity"] <= 1.0 and entity["extractor"] == EXTRACTOR
    assert hits >= total - 1 and wrong <= 1, f"{hits} of {total} unseen entities found, {wrong} wrong"
    assert extractor.run("") == () and extractor.run("?!") == ()


def test_roles_are_learned(extractor: CrfEntityExtractor) -> None:
    text = "a train from Vienna to Oslo"
    roles = {(text[e["start"]:e["end"]], e.get("role")) for e in extractor.run(text) if e["entity"] == "city"}
    assert roles == {("Vienna", "departure"), ("Oslo", "destination")}
    assert all(0 < e["confidence_role"] <= 1 for e in extractor.run(text) if "role" in e)


def test_synonyms_regexes_and_lookups_apply(extractor: CrfEntityExtractor) -> None:
    text = "VEGGIE food in Berlin"
    veggie = next(e for e in extractor.run(text) if e["entity"] == "cuisine")
    # Case-blind, from the annotation's value; the mapper is named as Rasa names it.
    assert veggie["value"] == "vegetarian" and veggie["processors"] == ["EntitySynonymMapper"]
    veg = next(e for e in extractor.run("a veg place near Paris") if e["entity"] == "cuisine")
    assert veg["value"] == "vegetarian", "from the synonym item, on what the lookup table found"
    # The regex named like an entity finds it where the CRF never saw such a phrasing.
    text = "parcel for 12345 and 99999 thanks"
    zips = [e for e in extractor.run(text) if e["entity"] == "zipcode"]
    assert {text[e["start"]:e["end"]] for e in zips} == {"12345", "99999"}
    assert any(e["extractor"] == REGEX_EXTRACTOR and e["confidence_entity"] == 1.0 for e in zips)
    # A lookup element as a whole word, case ignored; not inside another word.
    text = "ETHIOPIAN please"
    assert ("cuisine", "ETHIOPIAN") in spans(extractor.run(text), text)
    assert not [e for e in extractor.run("nonethiopianish") if e["extractor"] == REGEX_EXTRACTOR]


def test_saved_models_are_reused_and_rebuilt_only_on_change(
        nlu: NluData, models: Path, extractor: CrfEntityExtractor, tmp_path: Path) -> None:
    files = sorted(models.glob("entities-*.crfsuite"))
    assert [f.name.rsplit("-", 1)[1] for f in files] == ["entity.crfsuite", "role.crfsuite"], \
        "no group is annotated: no group model"
    stamps = {f: f.stat().st_mtime_ns for f in files}
    assert train_entities(nlu, models) is False
    again: EntityExtractor = CrfEntityExtractor(nlu, models)  # the port the responder takes
    with pytest.raises(NotReady):
        again.run("hi")
    again.warm_up()
    again.warm_up()
    assert {f: f.stat().st_mtime_ns for f in files} == stamps, "loaded, not trained again"
    for text, _ in UNSEEN:
        assert again.run(text) == extractor.run(text)
    # Other data: trained into its own files, the old ones removed.
    elsewhere = tmp_path / "models"
    for f in files:
        (elsewhere / f.name).parent.mkdir(exist_ok=True)
        (elsewhere / f.name).write_bytes(f.read_bytes())
    first = nlu.examples[0]
    changed = replace(nlu, examples=(replace(first, text=first.text + " now"),) + nlu.examples[1:])
    assert train_entities(changed, elsewhere) is True
    renamed = sorted(elsewhere.glob("entities-*.crfsuite"))
    assert len(renamed) == 2 and not set(f.name for f in renamed) & set(f.name for f in files)
    assert not list(elsewhere.glob(".training-*")), "no scratch left behind"


def test_no_annotations_no_extractor(tmp_path: Path) -> None:
    plain = NluData(examples=(Example("greet", "hi"), Example("bye", "bye")))
    assert entity_extractor(plain, tmp_path) is None
    with pytest.raises(BadRequest):
        train_entities(plain, tmp_path)
    with pytest.raises(BadRequest):
        cross_validate_entities(plain)


def test_folds_are_stratified_by_intent(nlu: NluData) -> None:
    folds = stratified_folds(nlu.examples, 5, seed=0)
    assert sorted(i for fold in folds for i in fold) == list(range(len(nlu.examples)))
    for intent in {ex.intent for ex in nlu.examples}:
        per_fold = [sum(nlu.examples[i].intent == intent for i in fold) for fold in folds]
        assert max(per_fold) - min(per_fold) <= 1, (intent, per_fold)
    assert stratified_folds(nlu.examples, 5, seed=1) != folds


def test_cross_validation_scores_each_entity_on_held_out_folds(nlu: NluData) -> None:
    report = cross_validate_entities(nlu, folds=5, seed=0)
    annotated_tokens: dict[str, int] = {}
    for ex in nlu.examples:
        for span in ex.entities:
            n = sum(1 for t in tokenize(ex.text) if t.start < span.end and t.end > span.start)
            annotated_tokens[span.entity] = annotated_tokens.get(span.entity, 0) + n
    # Each example is tested once, in the fold that held it out.
    assert {e: s.support for e, s in report.per_entity.items()} == annotated_tokens
    assert report.micro.support == sum(annotated_tokens.values()) and len(report.fold_f1) == 5
    # A clearly learnable set: every entity well above chance, as a whole and per entity.
    assert report.micro.f1 >= 0.9 and report.spans_micro.f1 >= 0.85
    assert all(score.f1 >= 0.7 for score in report.per_entity.values()), report.per_entity
    assert all(0 <= s.precision <= 1 and 0 <= s.recall <= 1 for s in report.spans.values())


def test_without_the_language_model(nlu: NluData, tmp_path: Path) -> None:
    # Its own models (the features differ), still learning the project's contexts.
    assert fingerprint(nlu, None) != fingerprint(nlu)
    plain = entity_extractor(nlu, tmp_path, language_model=None)
    assert plain is not None
    plain.warm_up()
    text = "is there a vietnamese restaurant in Lisbon"
    assert spans(plain.run(text), text) == {("cuisine", "vietnamese"), ("location", "Lisbon")}
    assert len(list(tmp_path.glob(f"entities-{fingerprint(nlu, None)}-*.crfsuite"))) == 2
