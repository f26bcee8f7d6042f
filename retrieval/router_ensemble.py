"""The accurate profile's decision: the MiniLM router and a frozen all-mpnet-base-v2 head together.

Method M3b of docs/quality.md. The head is multinomial logistic regression on the frozen mpnet
sentence embeddings (scaled by ``SCALE``, L2 on the weights), over the same labels as the router.
The best entry is the argmax of the mean of both models' log-softmax (the same as of their summed
logits: the study's rule, kept as measured); the answer score is the
sum of both models' energy scores (``in_scope_scores``), each divided by its standard deviation
over the held-out phrasings, so neither model's scale dominates. The threshold is then chosen on
that sum exactly as the fast profile chooses its own.

Nearest neighbours: the answer score also counts how close a message lies to the shop's own
in-scope phrasings in the mpnet space: the mean cosine of its ``NEIGHBOURS`` nearest phrasings,
divided by its standard deviation over the held-out phrasings and weighted ``NEIGHBOURS_WEIGHT``
(as much as the two energies together). A frozen sentence encoder's neighbourhood separates
off-topic messages that a trained head still scores confidently (the study in docs/quality.md,
"Nearest neighbours"); the label is the two models' as before.

Cascade: mpnet runs only for the messages MiniLM is not sure of. A message whose MiniLM energy
reaches ``skip_above`` takes MiniLM's own answer; ``skip_above`` is the highest MiniLM energy at
which the ensemble decided differently on the held-out phrasings (so above it the two agreed on
every one of them), and never below the median energy of the held-out phrasings MiniLM routed
right (a shop with few held-out phrasings shows few disagreements: that floor keeps mpnet on at
least the less certain half). Measured in docs/quality.md, "Router profiles".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.turns import RouterOutput
from retrieval.router import in_scope_scores, router_outputs

HEAD_FILE = "mpnet_head.npz"
# Part of an accurate router's version: a change of method retrains it.
METHOD = "m3b-ensemble+neighbours5+cascade"
# Chosen on 5-fold CV of CLINC150 train with validation beside it (docs/quality.md).
NEIGHBOURS = 5
NEIGHBOURS_WEIGHT = 2.0
# Unit vectors times 10: the L2 penalty then stays mild against the logits (the study's setting).
SCALE = 10.0
L2 = 1e-4
ITERATIONS = 200


@dataclass(frozen=True)
class EnsembleScale:
    """Standard deviations of each model's energy over the held-out phrasings, and the MiniLM
    energy from which MiniLM answers alone (``inf``: mpnet always runs). ``neighbours_sd`` is that
    of the nearest-neighbour similarity; 0 leaves it out (routers calibrated before it, M3b)."""

    minilm_sd: float
    mpnet_sd: float
    skip_above: float = float("inf")
    neighbours_sd: float = 0.0

    def to_json(self) -> dict[str, float | None]:
        """Plain-JSON form, saved in ``router.json``'s calibration (``None``: never skip)."""
        data: dict[str, float | None] = dict(asdict(self))
        if np.isinf(self.skip_above):
            data["skip_above"] = None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EnsembleScale:
        """Read the saved form back."""
        skip = data.get("skip_above")
        return cls(float(data["minilm_sd"]), float(data["mpnet_sd"]),
                   float("inf") if skip is None else float(skip), float(data.get("neighbours_sd", 0.0)))


@dataclass(frozen=True)
class MpnetHead:
    """The second head: softmax weights over the mpnet embedding (labels, dim), and the unit
    embeddings of the shop's in-scope phrasings its neighbours are found among."""

    weight: np.ndarray
    bias: np.ndarray
    bank: np.ndarray

    def score(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The head's logits and the nearest-neighbour similarity of unit ``embeddings``."""
        return head_logits(embeddings, self.weight, self.bias), neighbour_similarity(embeddings, self.bank)

    def arrays(self) -> dict[str, np.ndarray]:
        """What ``HEAD_FILE`` holds (the bank in float16, as ``bank_of`` rounds it for calibration)."""
        return {"weight": self.weight, "bias": self.bias, "bank": self.bank.astype(np.float16)}

    @classmethod
    def load(cls, path: Path) -> MpnetHead:
        """Read ``HEAD_FILE``; a head saved before the bank existed gets an empty one."""
        with np.load(path) as saved:
            weight, bias = saved["weight"], saved["bias"]
            bank = saved["bank"].astype(np.float32) if "bank" in saved.files \
                else np.zeros((0, weight.shape[1]), dtype=np.float32)
        return cls(weight, bias, bank)


def bank_of(embeddings: np.ndarray) -> np.ndarray:
    """The neighbour bank of some phrasings' unit embeddings, rounded as it is saved (float16), so
    the calibration sees exactly the similarities served."""
    return np.asarray(embeddings, dtype=np.float16).astype(np.float32)


def fit_head(
    embeddings: np.ndarray, y: np.ndarray, n_labels: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax regression on frozen embeddings (L-BFGS); returns ``(weight, bias)``, weight (labels, dim)."""
    import torch

    torch.manual_seed(seed)
    x = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32) * SCALE)
    target = torch.from_numpy(np.asarray(y, dtype=np.int64))
    w = torch.zeros(x.shape[1], n_labels, requires_grad=True)
    b = torch.zeros(n_labels, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=ITERATIONS, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure() -> Any:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ w + b, target) + L2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy().T.copy(), b.detach().numpy().copy()


def head_logits(embeddings: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The head's scores for unit embeddings, one column per label."""
    return np.asarray((embeddings * SCALE) @ weight.T + bias, dtype=np.float32)


def neighbour_similarity(embeddings: np.ndarray, bank: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """Mean cosine of each unit embedding to its ``k`` nearest rows of ``bank`` (unit rows: the
    shop's in-scope phrasings); 0 for every row when the bank is empty."""
    if len(bank) == 0:
        return np.zeros(len(embeddings), dtype=np.float32)
    k = min(k, len(bank))
    sims = np.asarray(embeddings, dtype=np.float32) @ np.asarray(bank, dtype=np.float32).T
    nearest = np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:]
    return nearest.mean(axis=1).astype(np.float32)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def energies(minilm: np.ndarray, mpnet: np.ndarray, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each model's energy score, for the scale and for diagnostics."""
    return in_scope_scores(minilm, labels)[1], in_scope_scores(mpnet, labels)[1]


def ensemble_scores(
    minilm: np.ndarray, mpnet: np.ndarray, labels: Sequence[str], scale: EnsembleScale,
    neighbours: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(probs, score, columns)`` as ``in_scope_scores`` returns them, for the two models together
    (and each row's ``neighbour_similarity`` where the scale counts it)."""
    mean = 0.5 * (_log_softmax(minilm) + _log_softmax(mpnet))
    probs, _, columns = in_scope_scores(mean, labels)
    e_minilm, e_mpnet = energies(minilm, mpnet, labels)
    score = e_minilm / scale.minilm_sd + e_mpnet / scale.mpnet_sd
    if scale.neighbours_sd > 0:
        if neighbours is None:
            raise ValueError("this calibration counts the nearest neighbours: pass their similarity")
        score = score + NEIGHBOURS_WEIGHT * np.asarray(neighbours) / scale.neighbours_sd
    return probs, score, columns


def ensemble_outputs(
    minilm: np.ndarray, mpnet: np.ndarray, labels: Sequence[str], scale: EnsembleScale, threshold: float,
    neighbours: np.ndarray | None = None,
) -> list[RouterOutput]:
    """Router outputs of the two models' logits: best entry, ranking, answer when the sum clears."""
    probs, score, columns = ensemble_scores(minilm, mpnet, labels, scale, neighbours)
    return router_outputs(probs, score, columns, labels, threshold)


def scale_of(
    minilm: np.ndarray, mpnet: np.ndarray, labels: Sequence[str], neighbours: np.ndarray | None = None
) -> EnsembleScale:
    """The standard deviations over held-out rows (1.0 where a score is constant); without
    ``neighbours`` the scale leaves them out."""
    e_minilm, e_mpnet = energies(minilm, mpnet, labels)
    neighbours_sd = 0.0 if neighbours is None else float(np.std(neighbours)) or 1.0
    return EnsembleScale(float(e_minilm.std()) or 1.0, float(e_mpnet.std()) or 1.0,
                         neighbours_sd=neighbours_sd)


def decisions(probs: np.ndarray, score: np.ndarray, columns: np.ndarray, threshold: float) -> np.ndarray:
    """Column index of the entry answered, or -1 where the score is below the threshold."""
    return np.where(score >= threshold, columns[probs.argmax(axis=1)], -1)


def skip_above(
    minilm: np.ndarray, mpnet: np.ndarray, labels: Sequence[str], scale: EnsembleScale, threshold: float,
    minilm_threshold: float, neighbours: np.ndarray | None = None,
) -> float:
    """The MiniLM energy from which MiniLM alone decides as the ensemble would (module docstring).

    ``minilm``/``mpnet`` are held-out rows' logits; ``threshold`` the ensemble's, and
    ``minilm_threshold`` MiniLM's own (a skipped message is answered, so it must clear it).
    """
    probs_m, e_minilm, columns = in_scope_scores(minilm, labels)
    alone = decisions(probs_m, e_minilm, columns, minilm_threshold)
    both = decisions(*ensemble_scores(minilm, mpnet, labels, scale, neighbours), threshold)
    unsafe = e_minilm[alone != both]
    right = e_minilm[(alone == both) & (alone >= 0)]
    if len(right) == 0:
        return float("inf")
    floor = float(np.median(right))
    # Strictly above the highest disagreement: a message at exactly that energy runs mpnet.
    above = float(np.nextafter(unsafe.max(), np.inf)) if len(unsafe) else floor
    return max(floor, above, minilm_threshold)


def cascade_outputs(
    minilm: np.ndarray, mpnet_of: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]],
    labels: Sequence[str], scale: EnsembleScale, threshold: float, minilm_threshold: float,
) -> tuple[list[RouterOutput], int]:
    """Outputs for a batch, calling ``mpnet_of(rows)`` (row indices → their mpnet logits and
    nearest-neighbour similarity, or ``None`` for it) only for the rows MiniLM is not sure of;
    returns the outputs and how many rows mpnet scored."""
    probs_m, e_minilm, columns = in_scope_scores(minilm, labels)
    unsure = e_minilm < scale.skip_above
    rows, sure = np.flatnonzero(unsure), np.flatnonzero(~unsure)
    # Each row's output is built once: from MiniLM alone if it is sure, else from both models.
    out: list[RouterOutput | None] = [None] * len(minilm)
    alone = router_outputs(probs_m[sure], e_minilm[sure], columns, labels, minilm_threshold)
    both: list[RouterOutput] = []
    if len(rows):
        logits, neighbours = mpnet_of(rows)
        both = ensemble_outputs(minilm[rows], logits, labels, scale, threshold, neighbours)
    for row, output in [*zip(sure.tolist(), alone, strict=True), *zip(rows.tolist(), both, strict=True)]:
        out[row] = output
    return [o for o in out if o is not None], len(rows)
