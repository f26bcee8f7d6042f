"""research/router_seed_ensemble.py: the shipped threshold rule on mean logits, and a tiny real run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from research_script import load_research_script

from retrieval.router import OUT_OF_SCOPE

se = load_research_script("router_seed_ensemble")

LABELS = ("delivery", "returns", OUT_OF_SCOPE)
FAQ = [
    {"id": "delivery", "answer": "3-5 days.",
     "questions": ["how long does delivery take", "when will my parcel arrive",
                   "shipping time to france", "how many days for delivery",
                   "is there express shipping"]},
    {"id": "returns", "answer": "30 days.",
     "questions": ["can I return an item", "how do I send something back",
                   "what is your refund policy", "return a broken mug", "I want my money back"]},
    {"id": OUT_OF_SCOPE, "answer": None,
     "questions": ["what is the capital of peru", "write me a poem", "how tall is mount everest",
                   "what is two plus two", "tell me a joke about cats"]},
]
CASES = [
    {"text": "delivery time to spain", "expected": "delivery"},
    {"text": "I would like a refund", "expected": "returns"},
    {"text": "who painted the mona lisa", "expected": None},
]


def test_the_threshold_answers_the_keep_rate_of_held_out_phrasings_routed_right() -> None:
    # Held out: two in-scope phrasings routed right (in-scope energies ≈ 5 and ≈ 3), one routed
    # wrong (it does not count) and one out-of-scope example (it does not count either).
    held = np.array([[5.0, -9.0, -9.0], [-9.0, 3.0, -9.0], [4.0, -9.0, -9.0], [-9.0, -9.0, 6.0]])
    held_y = np.array([0, 1, 1, 2])
    val = np.array([[4.0, -9.0, -9.0], [-9.0, 2.0, -9.0], [-9.0, -9.0, 6.0]])
    val_y = np.array([0, 1, -1])
    one = se.ensemble_scores([held], held_y, [val], val_y, LABELS, keep_rate=1.0)
    assert one["threshold"] == pytest.approx(3.0, abs=1e-3)  # the lower of 5 and 3 keeps both
    # 4 ≥ 3 answered right; 2 < 3 declined (wrong); the out-of-scope case is declined.
    assert (one["in_scope"], one["oos_recall"], one["raw_top1"]) == (50.0, 100.0, 100.0)
    # A member that agrees changes nothing; the ensemble is the members' mean logits.
    assert se.ensemble_scores([held, held], held_y, [val, val], val_y, LABELS, 1.0) == one
    shifted = se.ensemble_scores([held, held + 2.0], held_y, [val, val + 2.0], val_y, LABELS, 1.0)
    assert shifted["threshold"] == pytest.approx(4.0, abs=1e-3)


def test_a_tiny_real_run_scores_each_member_and_the_ensemble(tmp_path: Path) -> None:
    faq, cases = tmp_path / "faq.json", tmp_path / "cases.jsonl"
    faq.write_text(json.dumps(FAQ))
    cases.write_text("\n".join(json.dumps(c) for c in CASES))
    data = se.rm.load_data(faq, cases)
    config = se.RouterConfig.tiny()
    rows = se.run(data, [0, 1], tmp_path / "cache", config, [0.9])
    assert [r["seeds"] for r in rows] == [[0], [1], [0, 1]]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        "fit-s0-full.npz", "fit-s0-holdout.npz", "fit-s1-full.npz", "fit-s1-holdout.npz"]
    fits = se.member_fits(data, [0, 1], tmp_path / "cache", config)  # read back, not refit
    # Both members left out the same phrasings; their seeds made different models.
    assert fits[0][0]["held_y"].tolist() == fits[1][0]["held_y"].tolist()
    assert not np.allclose(fits[0][1]["val_logits"], fits[1][1]["val_logits"])
    expected = se.ensemble_scores([fits[0][0]["held_logits"], fits[1][0]["held_logits"]],
                                  fits[0][0]["held_y"],
                                  [fits[0][1]["val_logits"], fits[1][1]["val_logits"]],
                                  data.val_y, data.labels, 0.9)
    assert {k: rows[2][k] for k in expected} == expected
    for row in rows:
        assert 0.0 <= row["in_scope"] <= row["raw_top1"] <= 100.0
        assert row["train_s"] > 0.0
