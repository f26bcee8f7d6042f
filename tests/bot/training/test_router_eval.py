"""Router evaluation end to end on a tiny knowledge file: keys, hand-checked figures, validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.training.router_eval import evaluate, load_cases
from core.errors import BadRequest
from retrieval.router import RouterConfig

KEYS = {"n", "in_scope_accuracy", "macro_f1", "oos_precision", "oos_recall", "oos_f1",
        "p50_ms", "p95_ms", "train_s", "profile"}

FAQ = [
    {"id": "delivery", "answer": "3-5 working days.", "questions": [
        "how long does delivery take", "when will my parcel arrive", "shipping time to france",
        "how many days for delivery", "is there express shipping", "delivery times please"]},
    {"id": "returns", "answer": "Within 30 days.", "questions": [
        "can I return an item", "how do I send something back", "what is your refund policy",
        "return a broken mug", "I want my money back", "where do I send returns"]},
    {"id": "out_of_scope", "answer": None, "questions": [
        "what is the capital of peru", "who won the football last night", "write me a poem",
        "how tall is mount everest", "what is two plus two", "tell me a joke about cats"]},
]

CASES = [
    {"text": "how long does delivery take", "expected": "delivery"},
    {"text": "when will my parcel arrive", "expected": "delivery"},
    {"text": "can I return an item", "expected": "returns"},
    {"text": "I want my money back", "expected": "returns"},
    {"text": "what is the capital of peru", "expected": None},
    {"text": "write me a poem", "expected": "out_of_scope"},
]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    faq = tmp_path / "faq.json"
    faq.write_text(json.dumps(FAQ))
    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n".join(json.dumps(c) for c in CASES) + "\n")
    return faq, cases


@pytest.mark.slow
def test_figures_of_a_known_routing(files: tuple[Path, Path], tmp_path: Path) -> None:
    faq, cases = files
    # Rows: delivery ok, delivery -> declined, returns ok, returns -> delivery, OOS declined,
    # OOS answered as returns.
    answers = {
        "how long does delivery take": "delivery", "when will my parcel arrive": None,
        "can I return an item": "returns", "I want my money back": "delivery",
        "what is the capital of peru": None, "write me a poem": "returns",
    }
    result = evaluate(faq, cases, work_dir=tmp_path / "w", config=RouterConfig.tiny(),
                      route=lambda texts: [answers[t] for t in texts], progress=False)
    assert set(result) == KEYS
    assert result["n"] == 6
    assert result["in_scope_accuracy"] == pytest.approx(2 / 4)
    # delivery: tp 1, fp 1, fn 1 -> F1 1/2; returns: tp 1, fp 1, fn 1 -> F1 1/2.
    assert result["macro_f1"] == pytest.approx(0.5)
    # Declined: rows 2 and 5, one of them truly out of scope; one of two OOS cases caught.
    assert (result["oos_precision"], result["oos_recall"], result["oos_f1"]) == pytest.approx((0.5, 0.5, 0.5))
    assert 0 <= result["p50_ms"] <= result["p95_ms"]
    assert result["train_s"] > 0
    assert (tmp_path / "w" / "router" / "router.json").is_file()


@pytest.mark.slow
def test_default_route_is_the_trained_router(files: tuple[Path, Path], tmp_path: Path) -> None:
    faq, cases = files
    result = evaluate(faq, cases, work_dir=tmp_path / "w", config=RouterConfig.tiny(), progress=False)
    assert set(result) == KEYS and result["n"] == 6
    for key in ("in_scope_accuracy", "macro_f1", "oos_precision", "oos_recall", "oos_f1"):
        assert 0.0 <= result[key] <= 1.0
    # A real forward pass takes measurable time, and the OOS training questions are declined.
    assert result["p50_ms"] > 0
    assert result["oos_recall"] == 1.0


@pytest.mark.parametrize("line", [
    "not json",
    json.dumps(["a list"]),
    json.dumps({"text": "hi"}),
    json.dumps({"text": "", "expected": None}),
    json.dumps({"text": "hi", "expected": 3}),
    json.dumps({"text": "hi", "expected": "nowhere"}),
    json.dumps({"text": "hi", "expected": None, "extra": 1}),
])
def test_malformed_cases_are_bad_requests(files: tuple[Path, Path], tmp_path: Path, line: str) -> None:
    faq, _ = files
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(CASES[0]) + "\n" + line + "\n")
    with pytest.raises(BadRequest, match="bad.jsonl:2"):
        evaluate(faq, bad, work_dir=tmp_path / "w", config=RouterConfig.tiny(), progress=False)
    assert not (tmp_path / "w").exists()  # rejected before any training


def test_case_file_reading(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "hi", "expected": "a"}\n\n{"text": "bye", "expected": "out_of_scope"}\n')
    cases = load_cases(path, {"a"})
    assert [(c.text, c.expected) for c in cases] == [("hi", "a"), ("bye", None)]
    path.write_text("\n")
    with pytest.raises(BadRequest):
        load_cases(path)
    with pytest.raises(BadRequest):
        load_cases(tmp_path / "missing.jsonl")
