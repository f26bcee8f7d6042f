"""The trained router on a tiny real knowledge base: routing, declining, versions, calibration."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.errors import BadRequest, NotReady
from retrieval.knowledge import KnowledgeEntry
from retrieval.router import OUT_OF_SCOPE, RouterConfig, TrainedRouter, in_scope_scores, router_outputs
from retrieval.router_train import (
    RouterReport,
    keep_threshold,
    router_version,
    split_holdout,
    train_router,
)

ENTRIES = [
    KnowledgeEntry("delivery", (
        "how long does delivery take", "when will my parcel arrive", "shipping time to france",
        "how many days for delivery", "is there express shipping", "delivery times please",
    ), "Delivery takes 3-5 working days."),
    KnowledgeEntry("returns", (
        "can I return an item", "how do I send something back", "what is your refund policy",
        "return a broken mug", "I want my money back", "where do I send returns",
    ), "You can return unused items within 30 days."),
    # Answer-less but in scope: routed to a handler, never declined for lacking an answer.
    KnowledgeEntry("recommend", (
        "recommend a gift", "any gift ideas", "what should I buy my mum", "suggest a present",
        "help me choose a present", "gift ideas for a child",
    ), None),
    KnowledgeEntry(OUT_OF_SCOPE, (
        "what is the capital of peru", "who won the football last night", "write me a poem",
        "how tall is mount everest", "what is two plus two", "tell me a joke about cats",
    ), None),
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[RouterReport, TrainedRouter]:
    out = tmp_path_factory.mktemp("router") / "model"
    report = train_router(ENTRIES, out, config=RouterConfig.tiny(), progress=False)
    return report, TrainedRouter(out)


@pytest.mark.slow
def test_routes_phrasings_and_declines_unrelated(trained: tuple[RouterReport, TrainedRouter]) -> None:
    _, router = trained
    delivery, returns, gift, unrelated = router.run([
        "how long does delivery take", "I want my money back", "recommend a gift",
        "what is the capital of peru",
    ])
    assert (delivery.label, returns.label, gift.label) == ("delivery", "returns", "recommend")
    assert unrelated.label is None
    assert unrelated.top_label in {"delivery", "returns", "recommend"}
    assert unrelated.confidence < 0.5 <= delivery.confidence


@pytest.mark.slow
def test_outputs_rank_in_scope_entries_only(trained: tuple[RouterReport, TrainedRouter]) -> None:
    _, router = trained
    outputs = router.run(["where is the eiffel tower", "shipping time to france"])
    for out in outputs:
        ids = [label for label, _ in out.ranking]
        scores = [score for _, score in out.ranking]
        assert OUT_OF_SCOPE not in ids and out.label != OUT_OF_SCOPE
        assert sorted(ids) == ["delivery", "recommend", "returns"]
        assert scores == sorted(scores, reverse=True)
        assert out.top_label == out.ranking[0][0]
        assert 0.0 < out.confidence < 1.0
        assert (out.confidence >= 0.5) == (out.label is not None)
    assert router.run([]) == []


@pytest.mark.slow
def test_batch_and_single_queries_agree(trained: tuple[RouterReport, TrainedRouter]) -> None:
    _, router = trained
    texts = ["can I return an item", "gift ideas for a child please", "who is the president"]
    batch = router.run(texts)
    one_by_one = [router.run([t])[0] for t in texts]
    assert [o.label for o in batch] == [o.label for o in one_by_one]
    assert [o.confidence for o in batch] == pytest.approx([o.confidence for o in one_by_one], abs=1e-4)


@pytest.mark.slow
def test_version_is_stable_and_tracks_phrasings_and_config(
    trained: tuple[RouterReport, TrainedRouter],
) -> None:
    report, router = trained
    config = RouterConfig.tiny()
    assert router.version == report.version == router_version(ENTRIES, config)
    assert router_version(list(ENTRIES), config) == router_version(ENTRIES, config)
    reworded = [replace(ENTRIES[0], questions=(*ENTRIES[0].questions, "parcel ETA?")), *ENTRIES[1:]]
    assert router_version(reworded, config) != report.version
    assert router_version(ENTRIES, replace(config, seed=1)) != report.version
    # Answers do not change routing, so they do not force a retrain.
    reanswered = [replace(ENTRIES[0], answer="Two days."), *ENTRIES[1:]]
    assert router_version(reanswered, config) == report.version


@pytest.mark.slow
def test_calibration_is_saved_with_the_model(trained: tuple[RouterReport, TrainedRouter]) -> None:
    report, router = trained
    saved = json.loads((report.model_dir / "router.json").read_text())
    assert saved["threshold"] == report.threshold == router.threshold
    calibration = saved["calibration"]
    # tiny holds out 25 % of 6 phrasings per entry: 2 each.
    assert (calibration["held_out_in_scope"], calibration["held_out_oos"]) == (6, 2)
    assert np.isfinite(report.threshold)
    assert calibration["held_out_accuracy_at_threshold"] <= calibration["held_out_accuracy"]
    assert calibration["held_out_oos_recall"] == 1.0
    assert report.n_entries == 4 and report.n_phrasings == 24 and report.train_s > 0


@pytest.mark.slow
def test_warm_up_is_idempotent_across_threads(trained: tuple[RouterReport, TrainedRouter]) -> None:
    report, _ = trained
    router = TrainedRouter(report.model_dir)
    threads = [threading.Thread(target=router.warm_up) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    parts = router._parts
    router.warm_up()
    assert parts is not None and router._parts is parts


@pytest.mark.slow
def test_split_forward_matches_the_full_encoder() -> None:
    import torch

    from retrieval.router import mean_pool, run_layers
    from retrieval.router_train import _load_base, lower_states

    tokenizer, encoder = _load_base()
    encoder.eval()
    texts = ["a short one", "a somewhat longer question about delivery to france"]
    hidden, mask = lower_states(tokenizer, encoder, texts, 3, 32)
    with torch.inference_mode():
        split = mean_pool(run_layers(encoder.encoder.layer[3:], hidden, mask), mask)
        batch = tokenizer(texts, padding=True, return_tensors="pt")
        full = mean_pool(encoder(**batch).last_hidden_state, batch["attention_mask"])
    assert torch.allclose(split, full, atol=1e-4)


def test_missing_model_is_not_ready(tmp_path: Path) -> None:
    router = TrainedRouter(tmp_path / "nothing")
    with pytest.raises(NotReady):
        router.warm_up()
    with pytest.raises(NotReady):
        _ = router.version


def test_too_little_knowledge_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(BadRequest):
        train_router(ENTRIES[:1], tmp_path / "m", config=RouterConfig.tiny(), progress=False)
    with pytest.raises(BadRequest):
        train_router([ENTRIES[3]], tmp_path / "m", config=RouterConfig.tiny(), progress=False)


def test_an_unrelated_folder_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(BadRequest):
        train_router(ENTRIES, tmp_path, config=replace(RouterConfig.tiny(), min_steps=1), progress=False)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_keep_threshold_keeps_the_requested_share() -> None:
    scores = np.array([0.95, 0.1, 0.9, 0.5])
    assert keep_threshold(scores, 0.75) == 0.5  # 3 of 4 at or above 0.5
    assert keep_threshold(scores, 1.0) == 0.1
    assert keep_threshold(scores, 0.5) == 0.9
    assert keep_threshold(np.array([]), 0.99) == 0.0


def test_holdout_leaves_every_entry_two_phrasings() -> None:
    entries = [*ENTRIES, KnowledgeEntry("tiny", ("one", "two"), "x"),
               KnowledgeEntry("three", ("a", "b", "c"), "y")]
    kept, held = split_holdout(entries, 0.2, seed=0)
    sizes = {e.id: len(e.questions) for e in kept}
    assert sizes == {"delivery": 5, "returns": 5, "recommend": 5, OUT_OF_SCOPE: 5, "tiny": 2, "three": 2}
    assert len(held) == 5
    assert {x.label for x in held} == {"delivery", "returns", "recommend", OUT_OF_SCOPE, "three"}
    for entry in kept:
        original = next(e for e in entries if e.id == entry.id)
        held_here = {x.text for x in held if x.label == entry.id}
        assert set(entry.questions) | held_here == set(original.questions)
    assert split_holdout(entries, 0.2, seed=0) == (kept, held)


def test_scores_without_an_out_of_scope_entry() -> None:
    labels = ("a", "b")
    probs, score, columns = in_scope_scores(np.array([[2.0, 0.0], [0.0, 0.0]]), labels)
    # Energy: log(e^2 + e^0) and log(2).
    assert score == pytest.approx([np.log(np.exp(2) + 1), np.log(2)])
    out = router_outputs(probs, score, columns, labels, threshold=1.0)
    assert [o.label for o in out] == ["a", None]
    assert out[0].ranking[0] == ("a", pytest.approx(np.exp(2) / (np.exp(2) + 1)))
    assert out[1].top_label == "a" and out[1].ranking[0][1] == pytest.approx(0.5)
    assert out[0].confidence > 0.5 > out[1].confidence
    assert out[1].confidence == pytest.approx(1 / (1 + np.exp(1.0 - np.log(2))))
    assert [o.off_topic for o in out] == pytest.approx([0.0, 0.0], abs=1e-6)  # no such class


def test_a_winning_out_of_scope_class_lowers_the_score() -> None:
    labels = ("a", OUT_OF_SCOPE, "b")
    probs, score, columns = in_scope_scores(np.array([[0.0, np.log(8.0), 0.0], [3.0, 1.0, 0.0]]), labels)
    # Row 1: energy log 2, less the margin log 8 by which out_of_scope wins; row 2: no penalty.
    assert score == pytest.approx([np.log(2) - np.log(8), np.log(np.exp(3) + 1)])
    assert probs[0] == pytest.approx([0.1, 0.1])
    first, second = router_outputs(probs, score, columns, labels, threshold=0.0)
    assert first.label is None and second.label == "a"
    assert [label for label, _ in first.ranking] == ["a", "b"]
    # The out_of_scope class's own share of the softmax: 8 / 10, and e / (e^3 + e + 1).
    assert first.off_topic == pytest.approx(0.8)
    assert second.off_topic == pytest.approx(np.e / (np.exp(3) + np.e + 1), rel=1e-5)
