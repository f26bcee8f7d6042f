"""The accurate profile's decision rule: a frozen head on mpnet vectors, ensembled with the router."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from retrieval.router import OUT_OF_SCOPE, in_scope_scores, router_outputs
from retrieval.router_ensemble import (
    NEIGHBOURS_WEIGHT,
    SCALE,
    EnsembleScale,
    MpnetHead,
    bank_of,
    cascade_outputs,
    decisions,
    ensemble_outputs,
    ensemble_scores,
    fit_head,
    head_logits,
    neighbour_similarity,
    scale_of,
    skip_above,
)

# out_of_scope sits between in-scope labels, so columns and labels differ after it.
LABELS = ("delivery", "returns", OUT_OF_SCOPE, "gifts")


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _clusters(n_per: int = 20, dim: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around three random unit centres (the centres fixed, the noise from ``seed``)."""
    centres = _unit(np.random.default_rng(0).normal(size=(3, dim)))
    rng = np.random.default_rng(seed + 1)
    y = np.repeat(np.arange(3), n_per)
    return _unit(centres[y] + 0.35 * rng.normal(size=(len(y), dim)) / np.sqrt(dim)), y


def _mean_log_softmax(minilm: np.ndarray, mpnet: np.ndarray) -> np.ndarray:
    """The ensemble's mean log-probabilities, computed with torch rather than the module's helper."""
    a = torch.log_softmax(torch.from_numpy(minilm).double(), dim=1)
    b = torch.log_softmax(torch.from_numpy(mpnet).double(), dim=1)
    return (0.5 * (a + b)).numpy()


def test_fit_head_separates_three_classes() -> None:
    x, y = _clusters()
    weight, bias = fit_head(x, y, n_labels=3)
    assert weight.shape == (3, x.shape[1]) and bias.shape == (3,)
    logits = head_logits(x, weight, bias)
    assert logits.shape == (len(x), 3) and logits.dtype == np.float32
    assert float(np.mean(np.argmax(logits, axis=1) == y)) == 1.0
    # The head scores the scaled unit vectors: (x * SCALE) @ W.T + b.
    np.testing.assert_allclose(logits, (x * SCALE) @ weight.T + bias, rtol=1e-5, atol=1e-4)
    # Held-out points from the same clusters land in their own class too.
    fresh, fresh_y = _clusters(n_per=10, seed=1)
    assert (np.argmax(head_logits(fresh, weight, bias), axis=1) == fresh_y).all()
    # Labels no training row has never win.
    wide_w, wide_b = fit_head(x, y, n_labels=5)
    wide = head_logits(x, wide_w, wide_b)
    assert wide.shape == (len(x), 5)
    assert (np.argmax(wide, axis=1) == y).all()


def test_fit_head_is_deterministic() -> None:
    x, y = _clusters()
    w1, b1 = fit_head(x, y, 3, seed=0)
    w2, b2 = fit_head(x, y, 3, seed=0)
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(b1, b2)


def test_agreeing_models_give_their_label() -> None:
    minilm = np.array([[1.0, 4.0, 0.0, 0.5], [6.0, 0.0, 1.0, 2.0]], dtype=np.float32)
    mpnet = np.array([[0.0, 3.0, -1.0, 1.0], [2.0, 1.0, 0.0, 0.0]], dtype=np.float32)
    probs, _, columns = ensemble_scores(minilm, mpnet, LABELS, EnsembleScale(1.0, 1.0))
    assert [LABELS[columns[j]] for j in np.argmax(probs, axis=1)] == ["returns", "delivery"]


def test_disagreement_goes_to_the_far_more_confident_model() -> None:
    # Row 0: MiniLM barely prefers delivery, mpnet is sure of gifts. Row 1: the other way round.
    minilm = np.array([[2.0, 1.9, 0.0, 1.8], [12.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    mpnet = np.array([[0.0, 0.0, 0.0, 9.0], [0.0, 1.1, 0.0, 1.0]], dtype=np.float32)
    assert np.argmax(minilm[0]) != np.argmax(mpnet[0]) and np.argmax(minilm[1]) != np.argmax(mpnet[1])
    probs, _, columns = ensemble_scores(minilm, mpnet, LABELS, EnsembleScale(1.0, 1.0))
    best = [LABELS[columns[j]] for j in np.argmax(probs, axis=1)]
    assert best == ["gifts", "delivery"]
    # The ranking probabilities are the softmax of the mean log-softmax, out_of_scope's share kept.
    mean = _mean_log_softmax(minilm, mpnet)
    expected = np.exp(mean) / np.exp(mean).sum(axis=1, keepdims=True)
    assert list(columns) == [0, 1, 3]
    np.testing.assert_allclose(probs, expected[:, [0, 1, 3]], rtol=1e-5, atol=1e-6)
    assert (probs.sum(axis=1) < 1.0).all()


def test_label_and_ranking_ignore_each_models_logit_offset() -> None:
    # Log-softmax removes a constant per row and model: shifting one model's logits changes
    # neither the best entry nor the ranking probabilities (the energy score does move).
    rng = np.random.default_rng(11)
    minilm = rng.normal(scale=3.0, size=(8, 4)).astype(np.float32)
    mpnet = rng.normal(scale=3.0, size=(8, 4)).astype(np.float32)
    shift = rng.normal(scale=20.0, size=(8, 1)).astype(np.float32)
    scale = EnsembleScale(1.0, 1.0)
    probs, score, _ = ensemble_scores(minilm, mpnet, LABELS, scale)
    shifted_probs, shifted_score, _ = ensemble_scores(minilm, mpnet + shift, LABELS, scale)
    np.testing.assert_allclose(shifted_probs, probs, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(shifted_score, score + shift[:, 0], rtol=1e-4, atol=1e-3)


def test_score_is_the_sum_of_each_models_scaled_energy() -> None:
    rng = np.random.default_rng(3)
    minilm = rng.normal(scale=3.0, size=(12, 4)).astype(np.float32)
    mpnet = rng.normal(scale=8.0, size=(12, 4)).astype(np.float32)
    scale = EnsembleScale(minilm_sd=0.7, mpnet_sd=2.5)
    _, score, _ = ensemble_scores(minilm, mpnet, LABELS, scale)
    e_minilm = in_scope_scores(minilm, LABELS)[1]
    e_mpnet = in_scope_scores(mpnet, LABELS)[1]
    np.testing.assert_allclose(score, e_minilm / 0.7 + e_mpnet / 2.5, rtol=1e-5, atol=1e-5)
    # The energy by hand: log-sum-exp of the in-scope logits, less out_of_scope's winning margin.
    inside = minilm[:, [0, 1, 3]].astype(np.float64)
    lse = np.log(np.exp(inside).sum(axis=1))
    by_hand = lse - np.maximum(0.0, minilm[:, 2] - inside.max(axis=1))
    np.testing.assert_allclose(e_minilm, by_hand, rtol=1e-5, atol=1e-5)
    # Doubling a model's sd halves its share of the score.
    _, halved, _ = ensemble_scores(minilm, mpnet, LABELS, EnsembleScale(1.4, 2.5))
    np.testing.assert_allclose(halved, e_minilm / 1.4 + e_mpnet / 2.5, rtol=1e-5, atol=1e-5)


def test_out_of_scope_never_becomes_the_label() -> None:
    # Both models are sure the messages are out of scope.
    minilm = np.array([[0.0, 1.0, 9.0, 0.5], [2.0, 0.0, 15.0, 0.0]], dtype=np.float32)
    mpnet = np.array([[0.0, 0.0, 12.0, 0.0], [0.0, 3.0, 10.0, 1.0]], dtype=np.float32)
    probs, score, columns = ensemble_scores(minilm, mpnet, LABELS, EnsembleScale(1.0, 1.0))
    assert LABELS.index(OUT_OF_SCOPE) not in columns and probs.shape == (2, 3)
    # Whatever the threshold, the label is an in-scope entry or None, never out_of_scope.
    for threshold in (-30.0, float(score.min()), 30.0):
        for out in ensemble_outputs(minilm, mpnet, LABELS, EnsembleScale(1.0, 1.0), threshold):
            assert out.top_label != OUT_OF_SCOPE and out.label in {None, "delivery", "returns", "gifts"}
            assert OUT_OF_SCOPE not in [label for label, _ in out.ranking]
    # out_of_scope winning lowers the score below the in-scope energy alone.
    inside_only = in_scope_scores(minilm[:, [0, 1, 3]], ("delivery", "returns", "gifts"))[1]
    assert (in_scope_scores(minilm, LABELS)[1] < inside_only).all()


def test_scale_round_trips_through_json() -> None:
    scale = EnsembleScale(minilm_sd=1.2345678901, mpnet_sd=0.5)
    data = json.loads(json.dumps(scale.to_json()))
    assert data == {"minilm_sd": 1.2345678901, "mpnet_sd": 0.5, "skip_above": None, "neighbours_sd": 0.0}
    assert EnsembleScale.from_json(data) == scale
    counted = EnsembleScale(1.0, 2.0, 3.0, neighbours_sd=0.25)
    assert EnsembleScale.from_json(json.loads(json.dumps(counted.to_json()))) == counted
    # A calibration saved before the neighbours existed reads back without them (as it was served).
    assert EnsembleScale.from_json({"minilm_sd": 1.0, "mpnet_sd": 2.0}).neighbours_sd == 0.0
    # Integers and strings saved by hand read back as floats.
    again = EnsembleScale.from_json({"minilm_sd": 2, "mpnet_sd": "3.5"})
    assert again == EnsembleScale(2.0, 3.5) and isinstance(again.minilm_sd, float)
    with pytest.raises(KeyError):
        EnsembleScale.from_json({"minilm_sd": 1.0})


def test_scale_of_is_each_models_energy_sd() -> None:
    rng = np.random.default_rng(5)
    minilm = rng.normal(scale=2.0, size=(40, 4)).astype(np.float32)
    mpnet = rng.normal(scale=6.0, size=(40, 4)).astype(np.float32)
    scale = scale_of(minilm, mpnet, LABELS)
    assert scale.minilm_sd == pytest.approx(float(np.std(in_scope_scores(minilm, LABELS)[1])), rel=1e-5)
    assert scale.mpnet_sd == pytest.approx(float(np.std(in_scope_scores(mpnet, LABELS)[1])), rel=1e-5)
    assert scale.mpnet_sd > scale.minilm_sd > 0
    # A model whose energy never changes gets sd 1.0, not a division by zero.
    constant = np.tile(np.array([[1.0, 2.0, 0.0, 3.0]], dtype=np.float32), (40, 1))
    flat = scale_of(minilm, constant, LABELS)
    assert flat.mpnet_sd == 1.0 and flat.minilm_sd == pytest.approx(scale.minilm_sd)
    _, score, _ = ensemble_scores(minilm, constant, LABELS, flat)
    assert np.isfinite(score).all()


def test_outputs_decline_exactly_below_the_threshold() -> None:
    rng = np.random.default_rng(7)
    minilm = rng.normal(scale=3.0, size=(30, 4)).astype(np.float32)
    mpnet = rng.normal(scale=5.0, size=(30, 4)).astype(np.float32)
    scale = scale_of(minilm, mpnet, LABELS)
    probs, score, columns = ensemble_scores(minilm, mpnet, LABELS, scale)
    at = int(np.argsort(score)[len(score) // 2])
    threshold = float(score[at])
    outputs = ensemble_outputs(minilm, mpnet, LABELS, scale, threshold)
    assert len(outputs) == 30
    declined = [out.label is None for out in outputs]
    assert declined == [bool(s < threshold) for s in score]
    assert 0 < sum(declined) < 30
    assert outputs[at].label is not None and outputs[at].confidence == pytest.approx(0.5, abs=1e-6)
    for out, value, row in zip(outputs, score, probs, strict=True):
        assert out.top_label == LABELS[columns[int(np.argmax(row))]] == out.ranking[0][0]
        if out.label is not None:
            assert out.label == out.top_label and out.confidence >= 0.5
        else:
            assert out.confidence < 0.5
        assert out.confidence == pytest.approx(1.0 / (1.0 + np.exp(threshold - float(value))), rel=1e-5)


# ---------------------------------------------------------------- the cascade

def _batch(seed: int = 3, n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.normal(scale=3.0, size=(n, len(LABELS))).astype(np.float32),
            rng.normal(scale=3.0, size=(n, len(LABELS))).astype(np.float32))


def test_the_cascade_asks_mpnet_only_below_skip_above_and_answers_the_rest_from_minilm() -> None:
    minilm, mpnet = _batch()
    energy = in_scope_scores(minilm, LABELS)[1]
    cut = float(np.median(energy))
    scale = EnsembleScale(1.5, 2.0, skip_above=cut, neighbours_sd=0.1)
    neighbours = np.random.default_rng(8).uniform(0.2, 0.9, size=len(minilm)).astype(np.float32)
    asked: list[list[int]] = []

    def mpnet_of(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        asked.append(rows.tolist())
        return mpnet[rows], neighbours[rows]

    outs, scored = cascade_outputs(minilm, mpnet_of, LABELS, scale, 0.5, 1.0)
    low = np.flatnonzero(energy < cut)
    assert asked == [low.tolist()] and scored == len(low), "one mpnet call, for exactly the unsure rows"
    alone = router_outputs(*in_scope_scores(minilm, LABELS), LABELS, 1.0)
    both = ensemble_outputs(minilm, mpnet, LABELS, scale, 0.5, neighbours)
    for i, out in enumerate(outs):
        assert out == (both[i] if i in set(low.tolist()) else alone[i])


def test_no_skip_threshold_is_the_full_ensemble_and_a_sure_batch_never_calls_mpnet() -> None:
    minilm, mpnet = _batch(seed=4)
    scale = EnsembleScale(1.0, 1.0)
    full, scored = cascade_outputs(minilm, lambda rows: (mpnet[rows], None), LABELS, scale, 0.2, 0.0)
    assert scored == len(minilm) and full == ensemble_outputs(minilm, mpnet, LABELS, scale, 0.2)

    def never(rows: np.ndarray) -> tuple[np.ndarray, None]:
        raise AssertionError("mpnet must not run when MiniLM is sure of every message")

    sure = EnsembleScale(1.0, 1.0, skip_above=float("-inf"))
    outs, scored = cascade_outputs(minilm, never, LABELS, sure, 0.2, 0.0)
    assert scored == 0 and outs == router_outputs(*in_scope_scores(minilm, LABELS), LABELS, 0.0)


def test_skip_above_lies_above_every_disagreement_and_the_median_of_the_agreeing_rows() -> None:
    minilm, mpnet = _batch(seed=5, n=200)
    scale = scale_of(minilm, mpnet, LABELS)
    threshold, minilm_threshold = 1.0, 0.5
    cut = skip_above(minilm, mpnet, LABELS, scale, threshold, minilm_threshold)
    probs, energy, columns = in_scope_scores(minilm, LABELS)
    alone = decisions(probs, energy, columns, minilm_threshold)
    both = decisions(*ensemble_scores(minilm, mpnet, LABELS, scale), threshold)
    assert (alone != both).any() and cut >= energy[alone != both].max()
    assert cut >= np.median(energy[(alone == both) & (alone >= 0)]) and cut >= minilm_threshold
    # Above the cut the two decide alike on every held-out row: skipping there changes nothing.
    assert (alone[energy >= cut] == both[energy >= cut]).all()
    assert json.loads(json.dumps(EnsembleScale(1.0, 2.0).to_json()))["skip_above"] is None
    assert EnsembleScale.from_json(EnsembleScale(1.0, 2.0, 3.5).to_json()).skip_above == 3.5
    # Nothing MiniLM answered right agrees with the ensemble: never skip.
    assert skip_above(minilm, mpnet, LABELS, scale, threshold, 1e9) == float("inf")


def test_neighbour_similarity_is_the_mean_cosine_of_the_k_nearest_phrasings() -> None:
    bank, _ = _clusters(n_per=10, dim=16)
    queries = _unit(np.random.default_rng(9).normal(size=(7, 16)))
    sims = queries @ bank.T
    expected = np.sort(sims, axis=1)[:, -5:].mean(axis=1)
    np.testing.assert_allclose(neighbour_similarity(queries, bank, 5), expected, rtol=1e-5)
    np.testing.assert_allclose(neighbour_similarity(queries, bank, 1), sims.max(axis=1), rtol=1e-5)
    # A bank smaller than k: the mean over all of it; an empty bank: no similarity at all.
    few = neighbour_similarity(queries, bank[:3], 5)
    np.testing.assert_allclose(few, sims[:, :3].mean(axis=1), rtol=1e-5)
    assert (neighbour_similarity(queries, bank[:0]) == 0).all()
    # A phrasing of the bank itself is its own nearest neighbour.
    assert neighbour_similarity(bank[:4], bank, 1) == pytest.approx(np.ones(4), abs=1e-5)


def test_the_neighbours_raise_the_score_near_the_shops_phrasings_and_lower_it_far_from_them() -> None:
    rng = np.random.default_rng(10)
    minilm = rng.normal(size=(30, len(LABELS))).astype(np.float32)
    mpnet = rng.normal(size=(30, len(LABELS))).astype(np.float32)
    neighbours = rng.uniform(0.1, 0.9, size=30).astype(np.float32)
    plain = EnsembleScale(1.3, 0.7)
    counted = EnsembleScale(1.3, 0.7, neighbours_sd=0.2)
    probs, without, columns = ensemble_scores(minilm, mpnet, LABELS, plain, neighbours)
    probs_n, score, columns_n = ensemble_scores(minilm, mpnet, LABELS, counted, neighbours)
    np.testing.assert_allclose(score, without + NEIGHBOURS_WEIGHT * neighbours / 0.2, rtol=1e-5)
    # The label and the ranking are the two models' alone.
    np.testing.assert_array_equal(probs, probs_n)
    np.testing.assert_array_equal(columns, columns_n)
    with pytest.raises(ValueError, match="neighbours"):
        ensemble_scores(minilm, mpnet, LABELS, counted)
    scale = scale_of(minilm, mpnet, LABELS, neighbours)
    assert scale.neighbours_sd == pytest.approx(float(np.std(neighbours)), rel=1e-5)
    assert scale_of(minilm, mpnet, LABELS).neighbours_sd == 0.0


def test_the_head_saves_its_bank_as_served_and_reads_an_older_head_without_one(tmp_path: Path) -> None:
    x, y = _clusters()
    weight, bias = fit_head(x, y, n_labels=3)
    head = MpnetHead(weight, bias, bank_of(x))
    np.savez(tmp_path / "head.npz", **head.arrays())
    again = MpnetHead.load(tmp_path / "head.npz")
    np.testing.assert_array_equal(again.bank, head.bank)
    # The calibration saw the bank rounded exactly as the saved one: the same similarities served.
    logits, sims = again.score(x[:5])
    np.testing.assert_allclose(logits, head_logits(x[:5], weight, bias), rtol=1e-6)
    np.testing.assert_array_equal(sims, neighbour_similarity(x[:5], bank_of(x)))
    np.savez(tmp_path / "old.npz", weight=weight, bias=bias)
    old = MpnetHead.load(tmp_path / "old.npz")
    assert old.bank.shape == (0, x.shape[1]) and (old.score(x[:2])[1] == 0).all()
