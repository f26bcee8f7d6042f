"""research/router_label_members.py: the kNN member and the replacement rule on hand-made data."""

from __future__ import annotations

import numpy as np
from research_script import load_research_script

lm = load_research_script("router_label_members")


def _unit(rows: list[list[float]]) -> np.ndarray:
    x = np.array(rows, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_the_knn_member_votes_for_the_label_of_the_nearest_phrasings() -> None:
    bank = _unit([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]])
    bank_y = np.array([0, 0, 2, 2])
    logp = lm.knn_logp(_unit([[1, 0.05], [0.05, 1]]), bank, bank_y, n_labels=3, k=2, tau=0.05)
    assert logp.argmax(axis=1).tolist() == [0, 2]
    # A distribution over every label, the unseen label 1 floored, never impossible.
    assert np.allclose(np.exp(logp).sum(axis=1), 1.0) and np.isfinite(logp).all()
    assert logp[0, 1] < logp[0, 0] and logp[1, 1] < logp[1, 2]


def test_a_closer_neighbour_weighs_more_at_a_small_temperature() -> None:
    bank = _unit([[1, 0], [0, 1], [0.05, 1]])
    q = _unit([[1, 0.8]])  # nearer the label-0 phrasing than either label-1 one
    sharp = lm.knn_logp(q, bank, np.array([0, 1, 1]), n_labels=2, k=3, tau=0.01)
    flat = lm.knn_logp(q, bank, np.array([0, 1, 1]), n_labels=2, k=3, tau=10.0)
    assert sharp.argmax() == 0 and flat.argmax() == 1  # a plain vote: two label-1 neighbours


def _row(name: str, cv: tuple[float, float], val: tuple[float, float]) -> dict:
    return {"variant": name, "cv": {"in_scope": cv[0], "oos_recall": cv[1]},
            "val": {"in_scope": val[0], "oos_recall": val[1]},
            "cv_folds": [{"in_scope": cv[0], "oos_recall": cv[1]}] * 5}


def test_a_variant_replaces_the_served_rule_only_if_better_in_cv_and_on_validation() -> None:
    served = _row("served", (97.8, 94.0), (97.4, 90.0))
    only_cv = _row("a", (98.0, 94.0), (97.3, 90.0))
    only_val = _row("b", (97.7, 94.0), (97.6, 90.0))
    assert lm.choose([served, only_cv, only_val]) == "served"
    both = _row("c", (97.9, 94.0), (97.5, 90.0))
    better_cv = _row("d", (98.1, 94.0), (97.5, 87.0))  # below the out-of-scope target on validation
    assert lm.choose([served, only_cv, both, better_cv]) == "c"
    assert "| c ← |" in lm.markdown([served, both], "c")


def test_every_variant_has_a_rule_that_gives_label_scores() -> None:
    a, b, c = np.zeros((2, 3)), np.ones((2, 3)), np.log(np.full((2, 3), 1 / 3))
    for name, (combine, knn, _) in lm.variants().items():
        out = combine(a, b, c if knn else None)
        assert out.shape == (2, 3), name


def _drawn(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits ``z`` and labels drawn from ``softmax(z)``: logits calibrated at temperature 1."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(4000, 4)) * 2
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return z, np.array([rng.choice(4, p=row) for row in p])


def test_the_fitted_temperature_undoes_overconfidence() -> None:
    z, y = _drawn(0)
    # Logits three times too sharp: the labels were drawn from softmax(z), the model says 3 z.
    assert abs(lm.fit_temperature(3 * z, y) - 3.0) < 0.3
    assert abs(lm.fit_temperature(z, y) - 1.0) < 0.1
    # Out-of-scope rows (-1) take no part.
    assert abs(lm.fit_temperature(3 * z, np.where(np.arange(len(y)) % 2 == 0, y, -1)) - 3.0) < 0.4


def test_the_tempered_rule_is_the_served_mean_until_calibrated() -> None:
    z, y = _drawn(1)
    assert np.allclose(lm.Tempered()(3 * z, z, None), lm.mean_rule(3 * z, z, None))
    fitted = lm.Tempered().calibrate(3 * z, z, y)
    assert fitted.minilm_t > 2.5 and fitted.mpnet_t < 1.2  # the sharper model is cooled more
    # Calibrated, the two members count alike: the rule is the mean of two equal log-softmaxes.
    assert np.allclose(fitted(3 * z, z, None).argmax(axis=1), z.argmax(axis=1))
