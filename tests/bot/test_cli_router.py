"""`shopbot train` and `shopbot eval` on small knowledge files, through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from retrieval.router import MODEL_FILE

FAQ = [
    {"id": "delivery", "answer": "3-5 working days.", "questions": [
        "how long does delivery take", "when will my parcel arrive", "shipping time to france",
        "how many days for delivery", "is there express shipping", "delivery times please"]},
    {"id": "returns", "answer": "Within 30 days.", "questions": [
        "can I return an item", "how do I send something back", "what is your refund policy",
        "return a broken mug", "I want my money back", "where do I send returns"]},
]
INTENTS = [
    {"id": "out_of_scope", "answer": None, "questions": [
        "what is the capital of peru", "who won the football last night", "write me a poem",
        "how tall is mount everest", "what is two plus two", "tell me a joke about cats"]},
]
KEYS = {"n", "in_scope_accuracy", "macro_f1", "oos_precision", "oos_recall", "oos_f1",
        "p50_ms", "p95_ms", "train_s", "profile"}


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "faq.yml").write_text(yaml.safe_dump(FAQ))
    (tmp_path / "intents.yml").write_text(yaml.safe_dump(INTENTS))
    monkeypatch.setenv("SHOPBOT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SHOPBOT_FAQ_PATH", str(tmp_path / "faq.yml"))
    monkeypatch.setenv("SHOPBOT_INTENTS_PATH", str(tmp_path / "intents.yml"))
    return tmp_path


@pytest.mark.slow
def test_train_makes_a_candidate_only_when_the_knowledge_changed(
    shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--tiny", "--by", "ann"]) == 0
    out = capsys.readouterr().out
    assert "candidate router-" in out and "threshold" in out
    [first] = _candidates(shop)
    assert first["created_by"] == "ann"
    assert _labels(shop, first["version"]) == {"delivery", "returns", "out_of_scope"}
    assert not (shop / "var" / "router").exists(), "a candidate never replaces the served router"

    assert main(["train", "--tiny"]) == 0
    assert "trained on this knowledge already" in capsys.readouterr().out
    assert len(_candidates(shop)) == 1

    changed = FAQ + [{"id": "gift_wrap", "answer": "Yes, £2.", "questions": [
        "do you gift wrap", "can you wrap it as a present", "is gift wrapping available",
        "wrap my order please"]}]
    (shop / "faq.yml").write_text(yaml.safe_dump(changed))
    assert main(["train", "--tiny"]) == 0
    newest = _candidates(shop)[0]
    assert "gift_wrap" in _labels(shop, newest["version"]) and newest["data_hash"] != first["data_hash"]
    assert main(["train", "--tiny", "--force"]) == 0
    assert len(_candidates(shop)) == 3


def _candidates(shop: Path) -> list[dict[str, Any]]:
    from contextlib import redirect_stdout
    from io import StringIO

    out = StringIO()
    with redirect_stdout(out):
        assert main(["models", "--json"]) == 0
    models = json.loads(out.getvalue())["models"]
    assert all(m["state"] == "candidate" for m in models)
    return list(models)


def _labels(shop: Path, version: str) -> set[str]:
    return set(json.loads((shop / "var" / "models" / "router" / version / MODEL_FILE).read_text())["labels"])


@pytest.mark.slow
def test_eval_prints_one_json_object_and_progress_on_stderr(
    shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    faq = shop / "all.json"
    faq.write_text(json.dumps(FAQ + INTENTS))
    cases = shop / "cases.jsonl"
    cases.write_text("\n".join(json.dumps(c) for c in [
        {"text": "how long does delivery take?", "expected": "delivery"},
        {"text": "I'd like a refund", "expected": "returns"},
        {"text": "what is the capital of peru", "expected": None},
        # Labelled wrong on purpose: a miss whatever the tiny router learns.
        {"text": "how long does delivery take?", "expected": "returns"},
    ]))
    misses = shop / "misses.jsonl"
    assert main(["eval", "--faq", str(faq), "--cases", str(cases), "--json", "--tiny",
                 "--misses", str(misses)]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert set(result) == KEYS and result["n"] == 4
    assert 0.0 <= result["in_scope_accuracy"] <= 1.0 and result["train_s"] > 0
    assert "router" in err, "training progress goes to stderr"
    # The misses are exactly the cases the scores count as wrong.
    missed = [json.loads(line) for line in misses.read_text().splitlines()]
    assert any(m["text"] == "how long does delivery take?" and m["expected"] == "returns" for m in missed)
    assert all(m["answered"] != m["expected"] and m["backend"] == "onnx-int8" for m in missed)
    wrong = round(3 * (1 - result["in_scope_accuracy"])) + round(1 - result["oos_recall"])
    assert len(missed) == wrong


def test_eval_rejects_cases_with_unknown_ids(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    faq = shop / "all.json"
    faq.write_text(json.dumps(FAQ + INTENTS))
    cases = shop / "cases.jsonl"
    cases.write_text(json.dumps({"text": "hi", "expected": "no_such_entry"}) + "\n")
    assert main(["eval", "--faq", str(faq), "--cases", str(cases), "--json"]) == 2
    assert "unknown entry id" in capsys.readouterr().err


def test_eval_seed_changes_only_the_training_seed(tmp_path: Path) -> None:
    from argparse import Namespace

    from bot.training.seed_router import router_config
    from core.settings import Settings

    settings = Settings(var_dir=tmp_path / "var")
    shipped = router_config(settings, Namespace(profile="accurate", tiny=False, seed=None))
    reseeded = router_config(settings, Namespace(profile="accurate", tiny=False, seed=3))
    assert shipped.seed == 0 and reseeded.seed == 3
    # Everything else, the profile's own operating point included, stays as shipped.
    assert {**reseeded.to_json(), "seed": 0} == shipped.to_json()
    assert reseeded.profile == "accurate" and reseeded.keep_rate == shipped.keep_rate
