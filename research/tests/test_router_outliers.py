"""research/router_outliers.py: TREC lines become CLINC-style questions; in-scope look-alikes are dropped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from research_script import load_research_script

from bot.training.cross_validation import cross_validate
from retrieval.embeddings import SentenceEncoder
from retrieval.knowledge import KnowledgeEntry, load_knowledge
from retrieval.router import OUT_OF_SCOPE, RouterConfig

ro = load_research_script("router_outliers")

TREC = (
    "NUM:count How many calories are there in a Big Mac ?\n"
    "HUM:ind Who was the first American in space ?\n"
    "LOC:other Where is the Kalahari desert ?\n"
    "HUM:ind Who wrote NN DT NNP NNP  ?\n"
    "DESC:desc What s the Olympic motto ?\n"
    "HUM:ind Who was the first American in space ?\n"
)
FAQ = [
    KnowledgeEntry("calories", ("how many calories does a big mac have", "calories in a big mac",
                                "how many calories are in a slice of pizza",
                                "what is the calorie count of a banana"), "a"),
    KnowledgeEntry("weather", ("what's the weather today", "will it rain tomorrow",
                               "is it sunny outside", "what is the forecast for this week"), "b"),
]


def test_read_trec_lowercases_drops_tagged_lines_and_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "train_5500.label"
    path.write_text(TREC, encoding="latin-1")
    assert ro.read_trec(path) == [
        "how many calories are there in a big mac", "who was the first american in space",
        "where is the kalahari desert", "what's the olympic motto"]


def test_nearest_cosines_with_labels_skips_the_phrasing_itself_and_other_entries() -> None:
    vecs = np.eye(3, dtype=np.float32)[[0, 0, 1, 2]]
    # Rows 0 and 1 share entry 0 and are identical; rows 2 and 3 have no partner in their entry.
    own = ro.nearest_cosines(vecs, vecs, np.array([0, 0, 1, 1]))
    assert own.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert ro.nearest_cosines(vecs[:1], vecs[2:]).tolist() == [0.0]


def test_in_scope_look_alikes_are_dropped_and_the_rest_reach_out_of_scope(tmp_path: Path) -> None:
    trec = tmp_path / "train_5500.label"
    trec.write_text(TREC, encoding="latin-1")
    kept, summary = ro.select_outliers(FAQ, ro.read_trec(trec), 1.0, SentenceEncoder().encode)
    assert "how many calories are there in a big mac" not in kept
    assert "who was the first american in space" in kept
    assert summary["kept"] == len(kept) < summary["candidates"] == 4
    faq_path = tmp_path / "faq.json"
    total = ro.write_faq(FAQ, kept, faq_path)
    entries = {e.id: e for e in load_knowledge(faq_path)}
    assert list(entries[OUT_OF_SCOPE].questions) == kept and total == len(kept)
    assert entries["calories"] == FAQ[0] and entries[OUT_OF_SCOPE].answer is None
    assert [e["id"] for e in json.loads(faq_path.read_text())] == ["calories", "weather", OUT_OF_SCOPE]


def test_with_out_of_scope_appends_new_phrasings_once_and_leaves_entries_alone() -> None:
    own = KnowledgeEntry(OUT_OF_SCOPE, ("tell me a joke",), None)
    out = ro.with_out_of_scope([*FAQ, own], ["tell me a joke", "who won the cup", "who won the cup"])
    assert out[:2] == FAQ and out[2].questions == ("tell me a joke", "who won the cup")
    assert ro.with_out_of_scope(FAQ, []) == FAQ


def test_cross_validation_trains_on_the_outliers_but_never_scores_them(tmp_path: Path) -> None:
    entries = [*FAQ, KnowledgeEntry(OUT_OF_SCOPE, ("tell me a joke", "sing me a song"), None)]
    outliers = ["who was the first american in space", "where is the kalahari desert"]
    result = ro.cross_validate_with_outliers(entries, outliers, folds=2, work_dir=tmp_path,
                                             config=RouterConfig.tiny(), progress=False)
    assert result["n_phrasings"] == sum(len(e.questions) for e in entries)
    assert [f["fold"] for f in result["per_fold"]] == [0, 1]


def test_without_outliers_the_copy_scores_as_the_products_cross_validation(tmp_path: Path) -> None:
    # The control arm of `cv` is `shopbot eval --folds`: the experiment's copy must not drift.
    entries = [*FAQ, KnowledgeEntry(OUT_OF_SCOPE, ("tell me a joke", "sing me a song"), None)]
    config = RouterConfig.tiny()
    mine = ro.cross_validate_with_outliers(entries, [], folds=2, work_dir=tmp_path / "copy",
                                           config=config, progress=False)
    product = cross_validate(entries, folds=2, work_dir=tmp_path / "product", config=config,
                             progress=False)

    def figures(result: dict) -> dict:
        folds = [{k: v for k, v in f.items() if k != "train_s"} for f in result["per_fold"]]
        return {**{k: v for k, v in result.items() if k != "total_s"}, "per_fold": folds}

    assert figures(mine) == figures(product)


def test_nearness_reports_each_splits_out_of_scope_against_the_outliers(tmp_path: Path) -> None:
    faq = tmp_path / "faq.json"
    ro.write_faq(FAQ, ["tell me a joke", "who won the world cup in 1998"], faq)
    outliers = tmp_path / "outliers.json"
    outliers.write_text(json.dumps({"questions": ["who was the first american in space"]}))
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"text": "who was the first man on the moon", "expected": null}\n'
                     '{"text": "will it snow tomorrow", "expected": "weather"}\n')
    out = ro.nearness(faq, outliers, cases)
    assert out["knowledge out_of_scope"]["n"] == 2 and out["cases out of scope"]["n"] == 1
    # The space question is nearer the outlier about space than any weather or calorie phrasing.
    case = out["cases out of scope"]
    assert case["share_nearer_outlier"] == 1.0 and case["nearest_outlier"] > case["nearest_in_scope"]
