"""Cross-validated intent classification, as ``rasa test nlu --cross-validation`` measures it.

Folds are stratified over phrasings: each intent's examples are shuffled (seeded) and dealt in
turn into ``k`` folds, so every fold holds about 1/k of every intent. For each fold the router is
trained with the shipped, calibrated method (``train_router``, whose decline threshold is
calibrated on phrasings it holds out of the training folds) on the other k-1 folds, served as
the server serves it, and scores the held-out fold. Reported per fold, as mean and standard
deviation over folds (Rasa's form) and pooled over every phrasing: intent accuracy (a declined
phrasing counts as wrong), macro-F1 over intents, the decline rate of in-scope phrasings and,
when the project has ``out_of_scope`` examples, the share of them declined.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bot.training.scores import score_router
from core.errors import BadRequest
from retrieval.knowledge import KnowledgeEntry
from retrieval.mpnet import second_encoder
from retrieval.router import OUT_OF_SCOPE, RouterConfig
from retrieval.router_train import Example, train_router
from retrieval.turn_encoder import export_onnx, turn_encoder

METRICS = ("accuracy", "macro_f1", "decline_rate", "answered_accuracy", "oos_declined")


def stratified_folds(entries: Sequence[KnowledgeEntry], k: int, seed: int = 0) -> list[list[Example]]:
    """``k`` folds of phrasings, each intent spread evenly over them (seeded shuffle, dealt in turn)."""
    if k < 2:
        raise BadRequest("cross-validation needs at least 2 folds")
    rng = np.random.default_rng(seed)
    folds: list[list[Example]] = [[] for _ in range(k)]
    offset = 0
    for entry in entries:
        order = rng.permutation(len(entry.questions))
        for n, i in enumerate(order):
            # The offset carries on between intents, so small intents do not all pile into fold 0.
            folds[(offset + n) % k].append(Example(entry.questions[int(i)], entry.id))
        offset += len(order)
    return folds


def training_entries(entries: Sequence[KnowledgeEntry], held: Sequence[Example]) -> list[KnowledgeEntry]:
    """The entries less the held-out phrasings; an intent left with none is not trained on."""
    out_texts = {(x.label, x.text) for x in held}
    kept = []
    for entry in entries:
        questions = tuple(q for q in entry.questions if (entry.id, q) not in out_texts)
        if questions:
            kept.append(KnowledgeEntry(entry.id, questions, entry.answer))
    return kept


def cross_validate(
    entries: Sequence[KnowledgeEntry],
    *,
    folds: int,
    work_dir: Path,
    config: RouterConfig = RouterConfig(),  # noqa: B008 - frozen, so a shared default is safe
    backend: str = "onnx-int8",
    threads: int = 1,
    progress: bool = True,
    mpnet_dir: Path | None = None,
) -> dict[str, Any]:
    """Train and score one router per fold; the figures of every fold, their mean, std and pool.

    An accurate-profile ``config`` needs ``mpnet_dir``, the all-mpnet-base-v2 export.
    """
    started = time.perf_counter()
    second = second_encoder(config.profile, mpnet_dir, config.threads)
    split = stratified_folds(entries, folds, config.seed)
    per_fold: list[dict[str, Any]] = []
    expected_all: list[str | None] = []
    predicted_all: list[str | None] = []
    for n, held in enumerate(tqdm(split, desc="cross-validation: folds", file=sys.stderr,
                                  disable=not progress)):
        train = training_entries(entries, held)
        report = train_router(train, work_dir / f"fold-{n}", config=config, progress=progress, second=second)
        if backend.startswith("onnx"):
            export_onnx(report.model_dir)
        encoder = turn_encoder(backend, report.model_dir, threads, mpnet_dir=mpnet_dir)
        encoder.warm_up()
        labels = [e.routed.label for e in encoder.run([x.text for x in held])]
        expected = [None if x.label == OUT_OF_SCOPE else x.label for x in held]
        predicted = [None if p == OUT_OF_SCOPE else p for p in labels]
        fold = fold_scores(expected, predicted)
        fold.update(fold=n, train_s=round(report.train_s, 1),
                    untrained_intents=sorted({e.id for e in entries} - {e.id for e in train}))
        per_fold.append(fold)
        expected_all += expected
        predicted_all += predicted
    return {
        "folds": folds,
        "n_phrasings": len(expected_all),
        "n_intents": len({e.id for e in entries if e.id != OUT_OF_SCOPE}),
        "backend": backend,
        "profile": config.profile,
        "mean": {m: _mean([f[m] for f in per_fold]) for m in METRICS},
        "std": {m: _std([f[m] for f in per_fold]) for m in METRICS},
        "pooled": fold_scores(expected_all, predicted_all),
        "per_fold": per_fold,
        "total_s": round(time.perf_counter() - started, 1),
    }


def fold_scores(expected: Sequence[str | None], predicted: Sequence[str | None]) -> dict[str, Any]:
    """The figures of one set of held-out phrasings (``None``: out of scope, or declined)."""
    scores = score_router(expected, predicted)
    in_scope = [(e, p) for e, p in zip(expected, predicted, strict=True) if e is not None]
    answered = [(e, p) for e, p in in_scope if p is not None]
    oos = [p for e, p in zip(expected, predicted, strict=True) if e is None]
    return {
        "n": len(expected),
        "accuracy": scores.in_scope_accuracy,
        "macro_f1": scores.macro_f1,
        "decline_rate": sum(p is None for _, p in in_scope) / len(in_scope) if in_scope else None,
        "answered_accuracy": sum(e == p for e, p in answered) / len(answered) if answered else None,
        "oos_declined": sum(p is None for p in oos) / len(oos) if oos else None,
    }


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.fmean(kept) if kept else None


def _std(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.pstdev(kept) if kept else None


__all__ = ["stratified_folds", "training_entries", "cross_validate", "fold_scores"]
