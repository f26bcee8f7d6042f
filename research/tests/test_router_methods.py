"""research/router_methods.py: folds, decline scores, threshold rules, teacher head, distilled fit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from research_script import load_research_script

from bot.training.cross_validation import stratified_folds
from retrieval.knowledge import load_knowledge
from retrieval.router import OUT_OF_SCOPE, RouterConfig

rm = load_research_script("router_methods")

FAQ = [
    {
        "id": "delivery",
        "questions": [
            "how long does delivery take",
            "when will my parcel arrive",
            "shipping time to france",
            "how many days for delivery",
            "is there express shipping",
        ],
        "answer": "3-5 days.",
    },
    {
        "id": "returns",
        "questions": [
            "can I return an item",
            "how do I send something back",
            "what is your refund policy",
            "return a broken mug",
            "I want my money back",
        ],
        "answer": "30 days.",
    },
    {
        "id": OUT_OF_SCOPE,
        "questions": [
            "what is the capital of peru",
            "write me a poem",
            "how tall is mount everest",
            "what is two plus two",
            "tell me a joke about cats",
        ],
        "answer": None,
    },
]
CASES = [
    {"text": "delivery time to spain", "expected": "delivery"},
    {"text": "I would like a refund", "expected": "returns"},
    {"text": "who painted the mona lisa", "expected": None},
]


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    faq = tmp_path / "faq.json"
    faq.write_text(json.dumps(FAQ))
    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n".join(json.dumps(c) for c in CASES))
    return faq, cases


def test_folds_are_the_cross_validation_folds(files: tuple[Path, Path]) -> None:
    data = rm.load_data(*files, k=5, seed=0)
    folds = stratified_folds(load_knowledge(files[0]), 5, 0)
    for k, fold in enumerate(folds):
        mine = {(data.labels[data.y[i]], data.texts[i]) for i in np.flatnonzero(data.fold == k)}
        assert mine == {(x.label, x.text) for x in fold}
    assert list(data.val_y) == [0, 1, -1]


def test_knn_score_is_mean_of_nearest_cosines() -> None:
    bank = np.eye(3, dtype=np.float32)
    query = np.array([[0.8, 0.6, 0.0]], dtype=np.float32)
    assert rm.knn_score(query, bank, 1)[0] == pytest.approx(0.8)
    assert rm.knn_score(query, bank, 2)[0] == pytest.approx(0.7)


def test_mahalanobis_prefers_points_near_a_class_mean() -> None:
    rng = np.random.default_rng(0)
    bank = np.concatenate(
        [rng.normal(0, 0.1, (50, 4)) + [1, 0, 0, 0], rng.normal(0, 0.1, (50, 4)) + [0, 1, 0, 0]]
    )
    bank_y = np.repeat([0, 1], 50)
    near, far = rm.mahalanobis_score(np.array([[1.0, 0, 0, 0], [0, 0, 3.0, 0]]), bank, bank_y)
    assert near > far


def _scored(top: list[int], y: list[int], energy: list[float], knn: list[float]):
    feats = {
        "energy": np.array(energy),
        **{f"knn{k}": np.array(knn) for k in rm.KNN_K},
        "maha": np.array(knn),
    }
    return rm.Scored(np.array(top), np.array(y), feats)


def test_threshold_rules_and_figures() -> None:
    s = _scored([0, 1, 0, 1], [0, 1, -1, 0], [3.0, 2.0, 1.0, 2.5], [0.9, 0.8, 0.2, 0.7])
    t = rm.threshold_keep(s, s.feats["energy"], 1.0)
    assert t == 2.0  # keeps both phrasings routed right
    assert rm.figures(s, s.feats["energy"], t) == {"acc": pytest.approx(2 / 3), "recall": 1.0}
    assert rm.threshold_balanced(s, s.feats["energy"]) == 2.0


def test_combined_rule_picks_the_feature_that_separates_oos() -> None:
    # Energy cannot tell the out-of-scope phrasing apart; the kNN cosine can.
    s = _scored([0, 1, 0, 1, 0], [0, 1, -1, 1, 0], [2.0, 2.0, 2.5, 2.2, 2.1], [0.9, 0.8, 0.1, 0.85, 0.9])
    rule = rm.combined_rule(["knn1"], keep_rate=1.0)(s)
    assert rule.choice.startswith("knn1")
    score = rule(s)
    assert rm.figures(s, score, rm.threshold_keep(s, score, 1.0))["recall"] == 1.0
    assert rm.figures(s, s.feats["energy"], rm.threshold_keep(s, s.feats["energy"], 1.0))["recall"] == 0.0


def test_softmax_regression_fits_separable_data() -> None:
    x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]], dtype=np.float32) * 10
    w, b = rm.softmax_regression(x, np.array([0, 0, 1, 1]), 2)
    assert list((x @ w + b).argmax(axis=1)) == [0, 0, 1, 1]


@pytest.mark.slow
def test_distilled_fit_follows_labels_and_teacher(files: tuple[Path, Path]) -> None:
    entries = load_knowledge(files[0])
    n = sum(len(e.questions) for e in entries)
    labels = np.array([i for i, e in enumerate(entries) for _ in e.questions])
    teacher = np.eye(len(entries))[labels] * 5.0
    fitted = rm.fit_distilled(
        entries, RouterConfig.tiny(), teacher.astype(np.float32), alpha=0.5, temperature=2.0, desc="test"
    )
    logits, pooled = rm.logits_and_pooled(fitted, [q for e in entries for q in e.questions])
    assert logits.shape == (n, len(entries)) and pooled.shape[0] == n
    assert np.allclose(np.linalg.norm(pooled, axis=1), 1.0, atol=1e-4)
    assert (logits.argmax(axis=1) == labels).mean() >= 0.8


def test_separation_is_the_auroc_of_right_in_scope_against_oos() -> None:
    s = _scored([0, 1, 0, 1], [0, 1, -1, -1], [3.0, 2.0, 2.5, 1.0], [0.0] * 4)
    # Pairs (right, oos): (3, 2.5) yes, (3, 1) yes, (2, 2.5) no, (2, 1) yes.
    assert rm.separation(s, s.feats["energy"]) == pytest.approx(0.75)


def test_the_ensemble_pairs_the_chosen_router_fits_with_the_frozen_head(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    data = rm.load_data(*files)
    n_labels, rng = len(data.labels), np.random.default_rng(0)
    one_hot = np.eye(n_labels)[data.y] * 8.0  # a router that is always right
    # A frozen head with a weak, noisy view of the labels.
    train = np.eye(n_labels)[data.y] + rng.normal(scale=0.1, size=(len(data.y), n_labels))
    np.savez(tmp_path / "base.npz", train=train, val=rng.normal(size=(len(data.val_y), n_labels)),
             encode_s=np.array(1.0))
    for k in range(rm.K_FOLDS):
        np.savez(tmp_path / f"fit-kd-fold{k}.npz", held_logits=one_hot[data.fold == k],
                 held_y=data.y[data.fold == k], train_s=np.array(2.0))
    val_logits = np.eye(n_labels)[np.maximum(data.val_y, 0)] * 8.0
    np.savez(tmp_path / "fit-kd-full.npz", val_logits=val_logits, train_s=np.array(3.0))

    sets = rm.teacher_sets(data, tmp_path, {"train_s": 3.0}, name="base", ens_name="ens-kd-base",
                           minilm_prefix="kd-")
    # Built from the distilled fits alone: no shipped router fit (fit-full.npz) exists here.
    assert "ens-kd-base" in sets and not (tmp_path / "fit-full.npz").exists()
    oos = data.labels.index(OUT_OF_SCOPE)
    for k, fold in enumerate(sets["ens-kd-base"]["folds"]):
        y = data.y[data.fold == k]
        assert (fold.top == y)[y != oos].all()
    # Fits whose rows are not in the folds' order are refused, not silently mis-paired.
    fit = dict(np.load(tmp_path / "fit-kd-fold0.npz"))
    np.savez(tmp_path / "fit-kd-fold0.npz", **{**fit, "held_y": fit["held_y"][::-1]})
    with pytest.raises(AssertionError):
        rm.teacher_sets(data, tmp_path, {"train_s": 3.0}, name="base", ens_name="x", minilm_prefix="kd-")


def test_pseudo_oos_mixes_lie_between_two_entries_on_the_unit_sphere() -> None:
    rng = np.random.default_rng(1)
    centres = np.eye(8, dtype=np.float32)[:4]  # entry 3 stands for out_of_scope
    y = np.repeat(np.arange(4), 15)
    pooled = centres[y] + rng.normal(scale=0.05, size=(60, 8)).astype(np.float32)
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    mixes = rm.pseudo_oos_mixes(pooled, y, 3, 200, seed=0)
    assert 150 <= len(mixes) <= 200 and mixes.dtype == np.float32
    assert np.allclose(np.linalg.norm(mixes, axis=1), 1.0, atol=1e-5)
    # Each mix sits between two different in-scope entries, near neither alone, never out of scope.
    near = np.sort(mixes @ centres.T, axis=1)
    assert (near[:, -2] > 0.4).all() and (near[:, -1] < 0.95).all() and (near[:, -3] < 0.3).all()
    assert ((mixes @ centres[3]) < 0.3).all()
