"""bench/ungrounded.py: the `ungrounded` flag's precision and recall on saved, labelled drafts."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tests.bench_script import load_bench_script
from tests.bot.generation.test_verifier import BLUES, CLOCKS, JARS, evidence

bench = load_bench_script("ungrounded")


def _row(question: str, draft: str, passages: list[str], label: str | None, split: str) -> dict[str, Any]:
    row = {"question": question, "kind": "quoted", "split": split, "passages": passages, "draft": draft}
    return {**row, "key": bench.row_key(row), "label": label, "label_note": ""}


ROWS = [
    # The issue's three, labelled unsupported: the rule before the verifier missed the first two.
    _row("how much is that first clock?", "The White is black.", evidence(CLOCKS), "unsupported", "dev"),
    _row("no, I meant blue", "The Blue is sold singly; shoppers usually buy 1, we have sent the Blue+ill "
         "and 4 orders.", evidence(BLUES), "unsupported", "test"),
    _row("is the glass cookie jar good for biscuits?", "The Glass Design is made of 6 and costs £2.",
         evidence(JARS), "unsupported", "test"),
    _row("how much is the cookie jar?", "The Classic Glass Cookie Jar costs £4.15.", evidence(JARS),
         "supported", "test"),
    # A person's mistake (or a rule's gap): labelled supported, but the price is cut short.
    _row("what does a clock cost", "The Blue Retro Kitchen Wall Clock costs £8.", evidence(CLOCKS),
         "supported", "dev"),
    _row("is the clock popular?", "The Blue Refectory Clock was in 6 orders.", evidence(CLOCKS), None, "dev"),
]


def _score(tmp_path: Path, rule: str, errors: list[str] | None = None) -> dict[str, Any]:
    saved = tmp_path / "generated_answers.jsonl"
    saved.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    args = argparse.Namespace(saved=saved, threshold=0.5, rule=rule, errors=errors or [])
    return dict(bench.score(args))


def test_the_flag_is_scored_per_split_against_the_labels(tmp_path: Path) -> None:
    out = _score(tmp_path, "verifier", errors=["dev"])
    assert (out["rows"], out["unlabelled"]) == (6, 1)
    assert out["test"] == {"labelled": 3, "unsupported": 2, "flagged": 2, "tp": 2, "fp": 0, "fn": 0, "tn": 1,
                           "precision": 1.0, "recall": 1.0, "supported_sent": 1.0}
    assert out["dev"] == {"labelled": 2, "unsupported": 1, "flagged": 2, "tp": 1, "fp": 1, "fn": 0, "tn": 0,
                          "precision": 0.5, "recall": 1.0, "supported_sent": 0.0}
    assert out["all"]["tp"] == 3 and out["all"]["fp"] == 1
    assert [e["draft"] for e in out["errors"]] == ["The Blue Retro Kitchen Wall Clock costs £8."]
    assert out["errors"][0]["unsupported"] == ["£8"]


def test_the_rule_before_the_verifier_missed_the_issues_answers(tmp_path: Path) -> None:
    out = _score(tmp_path, "before")
    # Word share ("white" is in the passages) and numbers the passages hold (1, 4, 6, 2): none
    # of the three was flagged, as the issue found; the cut price was.
    assert (out["all"]["tp"], out["all"]["fn"], out["all"]["fp"]) == (0, 3, 1)


def test_labels_follow_their_draft_and_the_split_is_fixed_by_the_question() -> None:
    fresh = [{**r, "label": None, "label_note": ""} for r in ROWS]
    changed = {**fresh[0], "draft": "The White Baroque Wall Clock is white."}
    changed["key"] = bench.row_key(changed)
    merged = bench.merge_labels([changed, *fresh[1:]], ROWS)
    assert merged[0]["label"] is None  # a new draft needs a new label
    assert [r["label"] for r in merged[1:]] == [r["label"] for r in ROWS[1:]]
    assert bench.split_of("no, I meant blue") == bench.split_of("no, I meant blue")
    asked = bench.questions(20, 10, seed=26)
    assert asked == bench.questions(20, 10, seed=26)
    assert {q["question"] for q in asked} >= set(bench.FIXED)


def test_the_saved_sample_is_labelled_and_split_before_tuning() -> None:
    rows = bench.load(bench.SAMPLE)
    assert len(rows) >= 200 and all(r["label"] in bench.LABELS for r in rows)
    assert all(r["split"] == bench.split_of(r["question"]) and r["key"] == bench.row_key(r) for r in rows)
    assert {r["split"] for r in rows} == {"dev", "test"}
