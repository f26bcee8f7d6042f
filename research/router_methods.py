"""Router methods compared on CLINC150 (issue 12 item 1): validation and 5-fold CV on train.

Every method is scored twice, never on a test split:

- **validation**: fit on the whole train split (``--faq``), score ``--cases``;
- **5-fold CV on train**: the folds of ``bot.training.cross_validation.stratified_folds``
  (seed 0); a model fit on four folds scores the fifth; mean and spread over folds.

Decline thresholds and score combinations are chosen on *training* data only: out-of-fold
(OOF) scores of the five fold models. For validation the final model uses the OOF scores of
all five folds; for CV fold ``k`` it uses the OOF scores of the other four folds (models that
did see fold ``k`` in training, but the threshold is one number chosen on other phrasings;
an exactly nested CV would need 25 fits).

Stages (each expensive artefact is cached under ``--cache`` and computed once):

- ``fits``: the shipped MiniLM router fit (``retrieval.router_train.fit``) on the 20 % holdout
  split, on each set of four folds and on all of train; saves logits and pooled embeddings;
- ``teacher``: frozen all-mpnet-base-v2 embeddings of train and validation (``--teacher``);
- ``kd``: the MiniLM router distilled from a softmax head on the frozen mpnet embeddings
  (teacher fit on the same training phrasings only), per fold and on all of train;
- ``mix`` (with ``report``): the shipped fits' linear heads refit on their frozen pooled
  vectors, alone and with pseudo-out-of-scope mixes of two entries' phrasings (M5a/M5b);
- ``report``: every method from the cached arrays, p50 latency, Markdown to ``--out``.

    nice -n 19 .venv/bin/python research/router_methods.py \\
        --faq ../shared/benchmarks/clinc150_faq.json \\
        --cases ../shared/benchmarks/clinc150_val.jsonl \\
        --teacher /tmp/mpnet/all-mpnet-base-v2 --cache /tmp/router_methods \\
        --stages fits,teacher,kd,report --out /tmp/router_methods.md
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.training.router_eval import load_cases  # noqa: E402
from retrieval.knowledge import KnowledgeEntry, load_knowledge  # noqa: E402
from retrieval.router import OUT_OF_SCOPE, RouterConfig, in_scope_scores, mean_pool  # noqa: E402
from retrieval.router_train import keep_threshold, split_holdout  # noqa: E402

K_FOLDS = 5
KNN_K = (1, 5, 10)
WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class Data:
    """Train phrasings (global index order), their fold, and the validation cases."""

    entries: list[KnowledgeEntry]
    labels: tuple[str, ...]
    texts: list[str]
    y: np.ndarray  # label index of each train phrasing
    fold: np.ndarray  # fold of each train phrasing
    val_texts: list[str]
    val_y: np.ndarray  # label index, -1 for out of scope


def load_data(faq: Path, cases: Path, k: int = K_FOLDS, seed: int = 0) -> Data:
    """Entries, phrasings and the fold of each, dealt exactly as ``stratified_folds`` deals them."""
    entries = load_knowledge(faq)
    labels = tuple(e.id for e in entries)
    texts, y, fold = [], [], []
    rng = np.random.default_rng(seed)
    offset = 0
    for li, entry in enumerate(entries):
        order = rng.permutation(len(entry.questions))
        where = np.empty(len(order), dtype=int)
        for n, i in enumerate(order):
            where[int(i)] = (offset + n) % k
        offset += len(order)
        for i, q in enumerate(entry.questions):
            texts.append(q)
            y.append(li)
            fold.append(int(where[i]))
    val = load_cases(cases, set(labels))
    val_y = np.array([labels.index(c.expected) if c.expected is not None else -1 for c in val])
    return Data(entries, labels, texts, np.array(y), np.array(fold), [c.text for c in val], val_y)


def subset_entries(data: Data, keep: np.ndarray) -> list[KnowledgeEntry]:
    """The entries restricted to the phrasings where ``keep`` is true (every label keeps some)."""
    out = []
    for li, entry in enumerate(data.entries):
        qs = tuple(t for t, yy, kk in zip(data.texts, data.y, keep, strict=True) if yy == li and kk)
        out.append(KnowledgeEntry(entry.id, qs, entry.answer))
    return out


# ---------------------------------------------------------------- fits


def logits_and_pooled(fitted: Any, texts: Sequence[str], chunk: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Head logits and L2-normalised pooled router embeddings, through the full encoder."""
    import torch

    fitted.encoder.eval()
    logits, pooled = [], []
    with torch.inference_mode():
        for start in range(0, len(texts), chunk):
            batch = fitted.tokenizer(
                list(texts[start : start + chunk]),
                padding=True,
                truncation=True,
                max_length=fitted.max_len,
                return_tensors="pt",
            )
            hidden = fitted.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            p = mean_pool(hidden.last_hidden_state, batch["attention_mask"])
            logits.append((p @ fitted.weight.T + fitted.bias).float().numpy())
            pooled.append(torch.nn.functional.normalize(p, dim=-1).float().numpy())
    return np.concatenate(logits), np.concatenate(pooled)


def run_fit(
    data: Data,
    name: str,
    train_mask: np.ndarray,
    held: list[tuple[str, int]],
    cache: Path,
    config: RouterConfig,
    teacher: np.ndarray | None = None,
    kd: tuple[float, float] = (0.5, 2.0),
    bank: bool = True,
) -> dict[str, np.ndarray]:
    """Fit on the phrasings under ``train_mask`` (cached as ``fit-<name>.npz``)."""
    path = cache / f"fit-{name}.npz"
    if path.exists():
        return dict(np.load(path))
    entries = subset_entries(data, train_mask)
    started = time.perf_counter()
    if teacher is None:
        from retrieval.router_train import fit

        fitted = fit(entries, config, progress=True, desc=f"fit {name}")
    else:
        fitted = fit_distilled(entries, config, teacher, alpha=kd[0], temperature=kd[1], desc=f"fit {name}")
    train_s = time.perf_counter() - started
    out = save_fit(data, path, fitted, train_mask, held, train_s, bank)
    print(f"{name}: trained in {train_s:.0f} s", flush=True)
    return out


def save_fit(
    data: Data, path: Path, fitted: Any, train_mask: np.ndarray, held: list[tuple[str, int]], train_s: float,
    bank: bool = True,
) -> dict[str, np.ndarray]:
    """A fitted router's logits (and pooled embeddings) on validation, on ``held`` and, with
    ``bank``, on the phrasings it was fit on, saved under ``path`` (the fits cache's format)."""
    assert fitted.labels == data.labels
    out: dict[str, np.ndarray] = {"train_s": np.array(train_s)}
    out["val_logits"], out["val_pooled"] = logits_and_pooled(fitted, data.val_texts)
    if held:
        out["held_logits"], out["held_pooled"] = logits_and_pooled(fitted, [t for t, _ in held])
        out["held_y"] = np.array([y for _, y in held])
    out["bank_idx"] = np.flatnonzero(train_mask)
    if bank:
        _, out["bank_pooled"] = logits_and_pooled(fitted, [data.texts[i] for i in out["bank_idx"]])
    np.savez(path, **out)  # type: ignore[arg-type]
    return out


def fit_distilled(
    entries: Sequence[KnowledgeEntry],
    config: RouterConfig,
    teacher: np.ndarray,
    *,
    alpha: float,
    temperature: float,
    desc: str,
) -> Any:
    """``retrieval.router_train.fit`` with a distillation term: ``teacher`` holds teacher logits
    for the phrasings in entry order; loss = (1 - alpha) CE + alpha T^2 KL(teacher_T || student_T)."""
    import torch
    from tqdm import tqdm

    from retrieval.router import run_layers
    from retrieval.router_train import (
        Example,
        FittedRouter,
        _batches,
        _collate,
        _load_base,
        _lower_states,
        _warmup_linear,
    )

    torch.manual_seed(config.seed)
    tokenizer, encoder = _load_base()
    labels = tuple(e.id for e in entries)
    examples = [Example(q, e.id) for e in entries for q in e.questions]
    assert len(examples) == len(teacher)
    y = torch.tensor([labels.index(x.label) for x in examples])
    soft = torch.softmax(torch.from_numpy(teacher).float() / temperature, dim=-1)
    frozen = min(config.frozen_layers, len(encoder.encoder.layer))
    cache = _lower_states(tokenizer, encoder, [x.text for x in examples], frozen, config.max_seq_length)
    head = torch.nn.Linear(encoder.config.hidden_size, len(labels))
    top_layers = encoder.encoder.layer[frozen:]
    optimiser = torch.optim.AdamW(
        [
            {"params": top_layers.parameters(), "lr": config.encoder_lr},
            {"params": head.parameters(), "lr": config.head_lr},
        ],
        weight_decay=config.weight_decay,
    )
    steps = max(config.min_steps, math.ceil(config.epochs * len(examples) / config.batch_size))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, _warmup_linear(steps, config.warmup))
    top_layers.train()
    rng = np.random.default_rng(config.seed)
    with tqdm(total=steps, desc=desc) as bar:
        for _, batch in zip(range(steps), _batches(cache, config.batch_size, rng), strict=False):
            hidden, mask = _collate(cache, batch)
            logits = head(mean_pool(run_layers(top_layers, hidden, mask), mask))
            ce = torch.nn.functional.cross_entropy(logits, y[batch])
            kl = torch.nn.functional.kl_div(
                torch.log_softmax(logits / temperature, dim=-1), soft[batch], reduction="batchmean"
            )
            loss = (1 - alpha) * ce + alpha * temperature**2 * kl
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            bar.update(1)
    encoder.eval()
    return FittedRouter(
        tokenizer,
        encoder,
        head.weight.detach().clone(),
        head.bias.detach().clone(),
        labels,
        config.max_seq_length,
    )


def holdout_split(data: Data, config: RouterConfig) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """The shipped rule's 20 % holdout: the mask of phrasings fitted on, and the held-out ones."""
    kept, held_ex = split_holdout(data.entries, config.holdout_fraction, config.seed)
    keep_set = {(e.id, q) for e in kept for q in e.questions}
    mask = np.array([(data.labels[yy], t) in keep_set for t, yy in zip(data.texts, data.y, strict=True)])
    return mask, [(x.text, data.labels.index(x.label)) for x in held_ex]


def stage_fits(
    data: Data,
    cache: Path,
    config: RouterConfig,
    prefix: str = "",
    teacher_logits: Callable[[np.ndarray], np.ndarray] | None = None,
    kd: tuple[float, float] = (0.5, 2.0),
) -> None:
    """The fold fits, the full fit and (shipped rule) the 20 % holdout fit."""
    n = len(data.texts)
    full = np.ones(n, dtype=bool)
    if prefix:  # distilled: the full fit first, so validation's raw accuracy comes soonest
        run_fit(
            data,
            f"{prefix}full",
            full,
            [],
            cache,
            config,
            None if teacher_logits is None else teacher_logits(full),
            kd,
            bank=False,
        )
    for k in range(K_FOLDS):
        mask = data.fold != k
        held = [(data.texts[i], int(data.y[i])) for i in np.flatnonzero(~mask)]
        t = None if teacher_logits is None else teacher_logits(mask)
        run_fit(data, f"{prefix}fold{k}", mask, held, cache, config, t, kd, bank=not prefix)
    if not prefix:
        run_fit(data, f"{prefix}full", full, [], cache, config, None, kd)
    if not prefix:
        mask, held = holdout_split(data, config)
        run_fit(data, "holdout", mask, held, cache, config)


# ---------------------------------------------------------------- teacher


def encode_teacher(model_dir: Path, texts: Sequence[str], batch: int = 64) -> np.ndarray:
    """Frozen sentence embeddings (mean pooling, L2-normalised) of a sentence-transformers dir."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(texts), batch):
            rows = order[start : start + batch]
            enc = tokenizer(
                [texts[i] for i in rows], padding=True, truncation=True, max_length=64, return_tensors="pt"
            )
            hidden = model(**enc).last_hidden_state
            out[rows] = torch.nn.functional.normalize(
                mean_pool(hidden, enc["attention_mask"]), dim=-1
            ).numpy()
            if start % (batch * 40) == 0:
                print(f"teacher: {start}/{len(texts)}", flush=True)
    return out


def stage_teacher(data: Data, cache: Path, model_dir: Path, name: str = "teacher") -> None:
    """Cache frozen embeddings of train and validation (``<name>.npz``), with the encoding time."""
    if (cache / f"{name}.npz").exists():
        return
    started = time.perf_counter()
    train = encode_teacher(model_dir, data.texts)
    val = encode_teacher(model_dir, data.val_texts)
    np.savez(cache / f"{name}.npz", train=train, val=val, encode_s=np.array(time.perf_counter() - started))


def softmax_regression(
    x: np.ndarray, y: np.ndarray, n_labels: int, l2: float = 1e-4, iters: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression (L-BFGS, L2 on the weights); returns (W, b)."""
    import torch

    torch.manual_seed(0)
    xt, yt = torch.from_numpy(x).float(), torch.from_numpy(y).long()
    w = torch.zeros(x.shape[1], n_labels, requires_grad=True)
    b = torch.zeros(n_labels, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=iters, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> Any:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w + b, yt) + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), b.detach().numpy()


# Scaling the unit-norm embeddings makes the L2 penalty mild relative to the logits.
TEACHER_SCALE = 10.0


def teacher_logits_fn(data: Data, cache: Path) -> Callable[[np.ndarray], np.ndarray]:
    """Teacher logits on the phrasings under a mask, from a head fit on exactly those phrasings."""
    emb = np.load(cache / "teacher.npz")["train"] * TEACHER_SCALE

    def logits(mask: np.ndarray) -> np.ndarray:
        idx = np.flatnonzero(mask)
        # Entry order = global index order restricted to the mask (subset_entries keeps it).
        order = sorted(idx, key=lambda i: (data.y[i], i))
        w, b = softmax_regression(emb[order], data.y[order], len(data.labels))
        return emb[order] @ w + b

    return logits


# ---------------------------------------------------------------- scoring


def energy(logits: np.ndarray, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Top in-scope label index (into ``labels``) and the shipped energy score."""
    probs, score, columns = in_scope_scores(logits, labels)
    return columns[probs.argmax(axis=1)], score


def knn_score(query: np.ndarray, bank: np.ndarray, k: int) -> np.ndarray:
    """Mean cosine of each query to its ``k`` nearest bank rows (unit vectors)."""
    sims = query @ bank.T
    if k == 1:
        return sims.max(axis=1)
    part = np.partition(sims, -k, axis=1)[:, -k:]
    return part.mean(axis=1)


def mahalanobis_score(query: np.ndarray, bank: np.ndarray, bank_y: np.ndarray) -> np.ndarray:
    """Minus the smallest Mahalanobis distance to a class mean (shared covariance, ridge)."""
    classes = np.unique(bank_y)
    means = np.stack([bank[bank_y == c].mean(axis=0) for c in classes])
    centred = bank - means[np.searchsorted(classes, bank_y)]
    cov = centred.T @ centred / len(bank) + 1e-3 * np.eye(bank.shape[1])
    prec = np.linalg.inv(cov)
    qp = query @ prec
    d = (qp * query).sum(1)[:, None] - 2 * qp @ means.T + ((means @ prec) * means).sum(1)[None, :]
    return -d.min(axis=1)


@dataclass
class Scored:
    """One model's view of a set of phrasings: top label, and decline-score features."""

    top: np.ndarray
    y: np.ndarray  # -1: out of scope
    feats: dict[str, np.ndarray]


def score_set(
    logits: np.ndarray,
    pooled: np.ndarray | None,
    y: np.ndarray,
    labels: Sequence[str],
    bank: np.ndarray | None,
    bank_y: np.ndarray | None,
) -> Scored:
    """Features of a set of phrasings scored by one fit (bank: that fit's training phrasings)."""
    oos = labels.index(OUT_OF_SCOPE)
    top, e = energy(logits, labels)
    feats = {"energy": e}
    if pooled is not None and bank is not None and bank_y is not None:
        inside = bank[bank_y != oos]
        for k in KNN_K:
            feats[f"knn{k}"] = knn_score(pooled, inside, k)
        feats["maha"] = mahalanobis_score(pooled, inside, bank_y[bank_y != oos])
    return Scored(top, np.where(y == oos, -1, y), feats)


def join(parts: Sequence[Scored]) -> Scored:
    """Concatenate scored sets (the OOF pool of several folds)."""
    feats = {k: np.concatenate([p.feats[k] for p in parts]) for k in parts[0].feats}
    return Scored(np.concatenate([p.top for p in parts]), np.concatenate([p.y for p in parts]), feats)


def figures(s: Scored, score: np.ndarray, threshold: float) -> dict[str, float]:
    """In-scope accuracy (a decline is wrong) and OOS recall when answering at ``score >= threshold``."""
    answered = score >= threshold
    ins = s.y >= 0
    acc = float(((s.top == s.y) & answered & ins).sum() / max(1, ins.sum()))
    rec = float((~answered & ~ins).sum() / max(1, (~ins).sum()))
    return {"acc": acc, "recall": rec}


def threshold_keep(s: Scored, score: np.ndarray, keep_rate: float) -> float:
    """The shipped rule: answer ``keep_rate`` of the in-scope phrasings routed right."""
    right = (s.top == s.y) & (s.y >= 0)
    return keep_threshold(score[right], keep_rate)


def threshold_balanced(s: Scored, score: np.ndarray) -> float:
    """The threshold with the best accuracy + OOS recall on these (OOF) phrasings."""
    best, best_t = -1.0, 0.0
    for t in np.unique(score):
        f = figures(s, score, t)
        if f["acc"] + f["recall"] > best:
            best, best_t = f["acc"] + f["recall"], float(t)
    return best_t


# A score is a function of a Scored set and parameters fit on the OOF pool.
ScoreRule = Callable[[Scored], Callable[[Scored], np.ndarray]]


def energy_rule(oof: Scored) -> Callable[[Scored], np.ndarray]:
    """The shipped score: energy alone."""
    return lambda s: s.feats["energy"]


def separation(s: Scored, score: np.ndarray) -> float:
    """AUROC of ``score`` between in-scope phrasings routed right and out-of-scope ones."""
    right = score[(s.top == s.y) & (s.y >= 0)]
    oos = score[s.y < 0]
    if len(right) == 0 or len(oos) == 0:
        return 0.5
    ranks = np.argsort(np.argsort(np.concatenate([right, oos]), kind="stable"), kind="stable") + 1.0
    return float((ranks[: len(right)].sum() - len(right) * (len(right) + 1) / 2) / (len(right) * len(oos)))


def combined_rule(feature_names: Sequence[str], keep_rate: float) -> ScoreRule:
    """energy z-score + w * feature z-score; feature and w chosen on the OOF pool: best OOS recall
    at the keep-rate threshold, then best AUROC (routed-right in-scope vs OOS), then smaller w."""

    def choose(oof: Scored) -> Callable[[Scored], np.ndarray]:
        stats = {k: (oof.feats[k].mean(), oof.feats[k].std() + 1e-9) for k in oof.feats}

        def make(name: str, w: float) -> Callable[[Scored], np.ndarray]:
            em, es = stats["energy"]
            fm, fs = stats[name]
            return lambda s: (s.feats["energy"] - em) / es + w * (s.feats[name] - fm) / fs

        base = make("energy", 0.0)
        sc = base(oof)
        best = (
            figures(oof, sc, threshold_keep(oof, sc, keep_rate))["recall"],
            separation(oof, sc),
            base,
            "energy",
            0.0,
        )
        for name in feature_names:
            for w in WEIGHTS[1:]:
                rule = make(name, w)
                sc = rule(oof)
                key = (figures(oof, sc, threshold_keep(oof, sc, keep_rate))["recall"], separation(oof, sc))
                if key > best[:2]:
                    best = (*key, rule, name, w)
        chosen = best[2]
        chosen.choice = f"{best[3]} w={best[4]}"  # type: ignore[attr-defined]
        return chosen

    return choose


def logistic_rule(feature_names: Sequence[str]) -> ScoreRule:
    """A logistic regression (in scope vs out of scope) on standardised features, fit on OOF."""

    def choose(oof: Scored) -> Callable[[Scored], np.ndarray]:
        from sklearn.linear_model import LogisticRegression

        x = np.stack([oof.feats[k] for k in feature_names], axis=1)
        mu, sd = x.mean(0), x.std(0) + 1e-9
        model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000)
        model.fit((x - mu) / sd, (oof.y >= 0).astype(int))
        return lambda s: model.decision_function(
            (np.stack([s.feats[k] for k in feature_names], axis=1) - mu) / sd
        )

    return choose


@dataclass
class Method:
    """A method: which fits, which decline score and which threshold rule."""

    name: str
    prefix: str  # fit-name prefix ("" = shipped MiniLM fits, "kd-" = distilled, "teacher", "ens")
    rule: ScoreRule
    threshold: str  # "holdout", "keep", "balanced"
    servable: bool = True
    note: str = ""


def method_figures(m: Method, sets: dict[str, Any], keep_rate: float) -> dict[str, Any]:
    """Validation and CV figures of one method from the per-fit scored sets."""
    folds: list[Scored] = sets["folds"]
    val: Scored = sets["val"]
    out: dict[str, Any] = {}

    def decide(oof: Scored, target: Scored) -> dict[str, float]:
        rule = m.rule(oof)
        cal = rule(oof)
        t = threshold_balanced(oof, cal) if m.threshold == "balanced" else threshold_keep(oof, cal, keep_rate)
        res: dict[str, Any] = dict(figures(target, rule(target), t))
        res["choice"] = getattr(rule, "choice", "")
        return res

    if m.threshold == "holdout":
        hold: Scored = sets["holdout"]
        out["val"] = decide(hold, val)
        # CV: the "20 % holdout" of fold k is the next fold's OOF slice.
        cv = [decide(folds[(k + 1) % K_FOLDS], sets["fold_models"][k]) for k in range(K_FOLDS)]
    else:
        out["val"] = decide(join(folds), val)
        cv = [
            decide(join([folds[j] for j in range(K_FOLDS) if j != k]), sets["fold_models"][k])
            for k in range(K_FOLDS)
        ]
    out["cv"] = cv
    out["raw_val_acc"] = float((val.top == val.y)[val.y >= 0].mean())
    return out


def scored_sets(data: Data, cache: Path, prefix: str) -> dict[str, Any]:
    """Scored OOF folds, fold-model views of their held fold, validation and (shipped) holdout."""

    def load(name: str) -> dict[str, np.ndarray]:
        return dict(np.load(cache / f"fit-{name}.npz"))

    folds = []
    for k in range(K_FOLDS):
        f = load(f"{prefix}fold{k}")
        bank_y = data.y[f["bank_idx"]]
        folds.append(
            score_set(
                f["held_logits"], f["held_pooled"], f["held_y"], data.labels, f.get("bank_pooled"), bank_y
            )
        )
    full = load(f"{prefix}full")
    val = score_set(
        full["val_logits"],
        full["val_pooled"],
        data.val_y,
        data.labels,
        full.get("bank_pooled"),
        data.y[full["bank_idx"]],
    )
    sets: dict[str, Any] = {
        "folds": folds,
        "fold_models": folds,
        "val": val,
        "train_s": float(full["train_s"]),
        "fold_train_s": [float(load(f"{prefix}fold{k}")["train_s"]) for k in range(K_FOLDS)],
    }
    if (cache / "fit-holdout.npz").exists() and not prefix:
        h = load("holdout")
        sets["holdout"] = score_set(
            h["held_logits"],
            h["held_pooled"],
            h["held_y"],
            data.labels,
            h["bank_pooled"],
            data.y[h["bank_idx"]],
        )
        sets["holdout_train_s"] = float(h["train_s"])
    return sets


def teacher_sets(
    data: Data, cache: Path, minilm: dict[str, Any] | None, name: str = "teacher", ens_name: str = "ens",
    minilm_prefix: str = "",
) -> dict[str, Any]:
    """A softmax head on frozen embeddings (``<name>.npz``) and its ensemble with the MiniLM router.

    Ensemble: label = argmax of the mean of both models' log-softmax; decline score = the sum of
    both models' energy scores, each divided by its standard deviation over the OOF pool.
    ``minilm_prefix`` picks the router's fits ("" shipped, "kd-" distilled).
    """
    path = cache / f"{name}-logits.npz"
    t = np.load(cache / f"{name}.npz")
    emb, val_emb = t["train"] * TEACHER_SCALE, t["val"] * TEACHER_SCALE
    if path.exists():
        z = np.load(path)
        held = [z[f"held{k}"] for k in range(K_FOLDS)]
        val_logits, fit_s = z["val"], float(z["fit_s"])
    else:
        held = []
        for k in range(K_FOLDS):
            w, b = softmax_regression(emb[data.fold != k], data.y[data.fold != k], len(data.labels))
            held.append(emb[data.fold == k] @ w + b)
        started = time.perf_counter()
        w, b = softmax_regression(emb, data.y, len(data.labels))
        fit_s = time.perf_counter() - started
        val_logits = val_emb @ w + b
        np.savez(path, val=val_logits, fit_s=np.array(fit_s), **{f"held{k}": held[k] for k in range(K_FOLDS)})
    folds = [
        score_set(held[k], None, data.y[data.fold == k], data.labels, None, None) for k in range(K_FOLDS)
    ]
    val = score_set(val_logits, None, data.val_y, data.labels, None, None)
    sets = {name: {"folds": folds, "fold_models": folds, "val": val, "train_s": float(t["encode_s"]) + fit_s}}
    if minilm is not None and (cache / f"fit-{minilm_prefix}full.npz").exists():
        from scipy.special import log_softmax

        fold_fits = [dict(np.load(cache / f"fit-{minilm_prefix}fold{k}.npz")) for k in range(K_FOLDS)]
        # The ensemble pairs rows by position: a fold fit's held_y is in global index order, as
        # is data.fold == k.
        for k, f in enumerate(fold_fits):
            assert (f["held_y"] == data.y[data.fold == k]).all()
        sd_m = np.concatenate([energy(f["held_logits"], data.labels)[1] for f in fold_fits]).std()
        sd_t = np.concatenate([energy(h, data.labels)[1] for h in held]).std()

        def ens(a: np.ndarray, b: np.ndarray, y: np.ndarray) -> Scored:
            s = score_set(
                0.5 * (log_softmax(a, axis=1) + log_softmax(b, axis=1)), None, y, data.labels, None, None
            )
            s.feats["energy"] = energy(a, data.labels)[1] / sd_m + energy(b, data.labels)[1] / sd_t
            return s

        f_folds = [ens(f["held_logits"], held[k], f["held_y"]) for k, f in enumerate(fold_fits)]
        full = dict(np.load(cache / f"fit-{minilm_prefix}full.npz"))
        sets[ens_name] = {
            "folds": f_folds,
            "fold_models": f_folds,
            "val": ens(full["val_logits"], val_logits, data.val_y),
            "train_s": minilm["train_s"] + float(t["encode_s"]) + fit_s,
        }
    return sets


def pseudo_oos_mixes(pooled: np.ndarray, y: np.ndarray, oos: int, n: int, seed: int = 0) -> np.ndarray:
    """``n`` points between two in-scope phrasings of different entries, back on the unit sphere.

    Self-supervised out-of-scope examples (Zhan et al. 2021, "Out-of-Scope Intent Detection
    with Self-Supervision and Discriminative Training"): a mix of two intents is neither.
    """
    rng = np.random.default_rng(seed)
    inside = np.flatnonzero(y != oos)
    a, b = rng.choice(inside, n), rng.choice(inside, n)
    b = np.where(y[a] == y[b], rng.choice(inside, n), b)  # a rare same-entry pair is drawn again
    keep = y[a] != y[b]
    lam = rng.uniform(0.35, 0.65, size=(n, 1))
    mixed = (lam * pooled[a] + (1 - lam) * pooled[b])[keep]
    # Unit norm like every real phrasing, so that a short vector is not the tell.
    return (mixed / np.linalg.norm(mixed, axis=1, keepdims=True)).astype(np.float32)


def mixed_head_sets(data: Data, cache: Path, n_mix: int, name: str) -> dict[str, Any]:
    """The shipped fits' softmax head refit on their frozen pooled vectors, plus ``n_mix`` mixes.

    Every fit (five folds, full) keeps its fine-tuned encoder; only the linear head is fit again
    on that fit's own training phrasings (``bank_pooled``) and, labelled ``out_of_scope``,
    ``n_mix`` pseudo-out-of-scope mixes of them. ``n_mix`` 0 is the control: the refit alone.
    """
    path = cache / f"{name}-logits.npz"
    oos = data.labels.index(OUT_OF_SCOPE)
    fits = [dict(np.load(cache / f"fit-fold{k}.npz")) for k in range(K_FOLDS)]
    full = dict(np.load(cache / "fit-full.npz"))
    if path.exists():
        z = np.load(path)
        held = [z[f"held{k}"] for k in range(K_FOLDS)]
        val_logits, fit_s = z["val"], float(z["fit_s"])
    else:

        def head(f: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
            started = time.perf_counter()
            bank, y = f["bank_pooled"], data.y[f["bank_idx"]]
            mixes = pseudo_oos_mixes(bank, y, oos, n_mix) if n_mix else bank[:0]
            x = np.concatenate([bank, mixes]) * TEACHER_SCALE
            w, b = softmax_regression(x, np.concatenate([y, np.full(len(mixes), oos)]), len(data.labels))
            return w, b, time.perf_counter() - started

        held = []
        for f in fits:
            w, b, _ = head(f)
            held.append(f["held_pooled"] * TEACHER_SCALE @ w + b)
        w, b, fit_s = head(full)
        val_logits = full["val_pooled"] * TEACHER_SCALE @ w + b
        np.savez(path, val=val_logits, fit_s=np.array(fit_s), **{f"held{k}": held[k] for k in range(K_FOLDS)})
    folds = [score_set(held[k], None, fits[k]["held_y"], data.labels, None, None) for k in range(K_FOLDS)]
    return {name: {"folds": folds, "fold_models": folds,
                   "val": score_set(val_logits, None, data.val_y, data.labels, None, None),
                   "train_s": float(full["train_s"]) + fit_s,
                   "fold_train_s": [float(f["train_s"]) for f in fits]}}


# ---------------------------------------------------------------- latency


def latency_p50(
    cache: Path, data: Data, config: RouterConfig, n: int, knn: bool, teacher: Path | None
) -> float:
    """p50 ms per query, one query at a time: the full MiniLM router (+ kNN to the bank, + teacher)."""
    import torch

    from retrieval.router_train import FittedRouter, _load_base

    tokenizer, encoder = _load_base()
    full = dict(np.load(cache / "fit-full.npz"))
    weight = torch.zeros(len(data.labels), encoder.config.hidden_size)
    fitted = FittedRouter(
        tokenizer, encoder, weight, torch.zeros(len(data.labels)), data.labels, config.max_seq_length
    )
    bank = full["bank_pooled"]
    extra = None
    if teacher is not None:
        from transformers import AutoModel, AutoTokenizer

        extra = (AutoTokenizer.from_pretrained(str(teacher)), AutoModel.from_pretrained(str(teacher)).eval())
    times = []
    for text in data.val_texts[:n]:
        start = time.perf_counter()
        _, pooled = logits_and_pooled(fitted, [text])
        if knn:
            knn_score(pooled, bank, 10)
        if extra is not None:
            with torch.inference_mode():
                enc = extra[0]([text], return_tensors="pt", truncation=True, max_length=64)
                mean_pool(extra[1](**enc).last_hidden_state, enc["attention_mask"])
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


# ---------------------------------------------------------------- report


def methods(keep_rate: float) -> list[Method]:
    """Every method compared (each needs its fits cached)."""
    knn = [f"knn{k}" for k in KNN_K]
    return [
        Method("M0 shipped: energy, 20 % holdout threshold (keep 99.5 %)", "", energy_rule, "holdout"),
        Method("M1 energy, 5-fold OOF threshold (keep 99.5 %)", "", energy_rule, "keep"),
        Method("M1b energy, 5-fold OOF threshold (best OOF acc + OOS recall)", "", energy_rule, "balanced"),
        Method(
            "M2a energy + w·kNN cosine (fine-tuned space), OOF-chosen, keep 99.5 %",
            "",
            combined_rule(knn, keep_rate),
            "keep",
        ),
        Method(
            "M2b energy + w·(−Mahalanobis), OOF-chosen, keep 99.5 %",
            "",
            combined_rule(["maha"], keep_rate),
            "keep",
        ),
        Method(
            "M2c logistic(energy, kNN1/5/10, Mahalanobis) fit on OOF, keep 99.5 %",
            "",
            logistic_rule(["energy", *knn, "maha"]),
            "keep",
        ),
        Method(
            "M2d energy + w·kNN cosine, OOF-chosen, best OOF acc + OOS recall",
            "",
            combined_rule(knn, keep_rate),
            "balanced",
        ),
        Method(
            "M3a frozen mpnet + softmax head (teacher only), OOF threshold (keep 99.5 %)",
            "teacher",
            energy_rule,
            "keep",
            servable=False,
        ),
        Method(
            "M3b ensemble MiniLM router + frozen mpnet head, z-summed energies, OOF threshold (keep 99.5 %)",
            "ens",
            energy_rule,
            "keep",
            servable=False,
        ),
        Method(
            "M4a frozen base MiniLM (the turn encoder's own embedding) + softmax head, OOF threshold "
            "(keep 99.5 %)",
            "base",
            energy_rule,
            "keep",
        ),
        Method(
            "M4b ensemble MiniLM router + softmax head on the base MiniLM embedding, z-summed energies, "
            "OOF threshold (keep 99.5 %)",
            "ens-base",
            energy_rule,
            "keep",
        ),
        Method(
            "M3c MiniLM distilled from the mpnet head, energy, OOF threshold (keep 99.5 %)",
            "kd-",
            energy_rule,
            "keep",
        ),
        Method(
            "M5a the shipped router's head refit on its frozen fine-tuned vectors (control for M5b), "
            "energy, OOF threshold (keep 99.5 %)",
            "refit",
            energy_rule,
            "keep",
        ),
        Method(
            "M5b the same refit with 10,000 pseudo-out-of-scope mixes of two entries' phrasings "
            "labelled out_of_scope, energy, OOF threshold (keep 99.5 %)",
            "mix",
            energy_rule,
            "keep",
        ),
        Method(
            "M4c ensemble distilled MiniLM router (M3c) + softmax head on the base MiniLM embedding, "
            "z-summed energies, OOF threshold (keep 99.5 %)",
            "ens-kd-base",
            energy_rule,
            "keep",
        ),
    ]


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def _ms(values: list[float]) -> str:
    return f"{100 * statistics.fmean(values):.2f} ± {100 * statistics.pstdev(values):.2f}"


def stage_report(data: Data, cache: Path, args: argparse.Namespace, config: RouterConfig) -> str:
    """Figures of every method whose fits are cached, as Markdown."""
    sets: dict[str, dict[str, Any]] = {}
    partial_kd: tuple[Any, ...] | None = None
    if (cache / "fit-full.npz").exists():
        sets[""] = scored_sets(data, cache, "")
    kd_done = [k for k in range(K_FOLDS) if (cache / f"fit-kd-fold{k}.npz").exists()]
    if len(kd_done) == K_FOLDS and (cache / "fit-kd-full.npz").exists():
        sets["kd-"] = scored_sets(data, cache, "kd-")
    elif (cache / "fit-kd-full.npz").exists():
        # Not every fold fit: validation's raw top-1 and separation only, no threshold.
        kd = dict(np.load(cache / "fit-kd-full.npz"))
        v = score_set(kd["val_logits"], None, data.val_y, data.labels, None, None)
        partial_kd = (
            float((v.top == v.y)[v.y >= 0].mean()),
            separation(v, v.feats["energy"]),
            float(kd["train_s"]),
            kd_done,
        )
        if (cache / "fit-kd-holdout.npz").exists():
            # The shipped rule on the distilled model: threshold from its own 20 % holdout fit,
            # used for validation and (one scalar, documented) for whichever fold fits exist.
            h = dict(np.load(cache / "fit-kd-holdout.npz"))
            hs = score_set(h["held_logits"], None, h["held_y"], data.labels, None, None)
            t = threshold_keep(hs, hs.feats["energy"], config.keep_rate)
            folds_fig = []
            for k in kd_done:
                f = dict(np.load(cache / f"fit-kd-fold{k}.npz"))
                fs = score_set(f["held_logits"], None, f["held_y"], data.labels, None, None)
                folds_fig.append((k, figures(fs, fs.feats["energy"], t)))
            partial_kd = (*partial_kd, figures(v, v.feats["energy"], t), float(h["train_s"]), folds_fig)
    if "mix" in args.stages.split(",") and "" in sets:
        sets.update(mixed_head_sets(data, cache, 0, "refit"))
        sets.update(mixed_head_sets(data, cache, 10_000, "mix"))
    if (cache / "teacher.npz").exists():
        sets.update(teacher_sets(data, cache, sets.get("")))
    if (cache / "base.npz").exists():
        sets.update(teacher_sets(data, cache, sets.get(""), name="base", ens_name="ens-base"))
        if "kd-" in sets:
            sets.update(teacher_sets(data, cache, sets["kd-"], name="base", ens_name="ens-kd-base",
                                     minilm_prefix="kd-"))
    lat: dict[str, float] = {}
    n = args.latency_n
    lat["plain"] = latency_p50(cache, data, config, n, knn=False, teacher=None)
    lat["knn"] = latency_p50(cache, data, config, n, knn=True, teacher=None)
    if args.teacher and (cache / "teacher.npz").exists():
        lat["teacher"] = latency_p50(cache, data, config, n, knn=False, teacher=args.teacher)
    rows = []
    results = {}
    for m in methods(config.keep_rate):
        if m.prefix not in sets or (m.threshold == "holdout" and "holdout" not in sets[m.prefix]):
            continue
        r = method_figures(m, sets[m.prefix], config.keep_rate)
        results[m.name] = r
        s = sets[m.prefix]
        if m.threshold == "holdout":
            train_s = s["holdout_train_s"] + s["train_s"]
        elif m.prefix in ("", "kd-", "refit", "mix"):
            train_s = sum(s["fold_train_s"]) + s["train_s"]
        elif m.prefix.startswith("ens"):  # its threshold needs the MiniLM fold fits too
            router = "kd-" if m.prefix == "ens-kd-base" else ""
            train_s = sum(sets[router]["fold_train_s"]) + s["train_s"]
        else:
            train_s = s["train_s"]
        if m.prefix in ("teacher", "ens"):
            p50 = lat.get("teacher", float("nan"))
        else:
            p50 = lat["knn"] if ("kNN" in m.name or "Mahalanobis" in m.name) else lat["plain"]
        cv_acc = [f["acc"] for f in r["cv"]]
        cv_rec = [f["recall"] for f in r["cv"]]
        met = (
            r["val"]["acc"] >= 0.97
            and r["val"]["recall"] >= 0.90
            and statistics.fmean(cv_acc) >= r["val"]["acc"] - 0.01
            and statistics.fmean(cv_rec) >= r["val"]["recall"] - 0.01
        )
        choice = r["val"].get("choice", "")
        rows.append(
            f"| {m.name}{' (not servable: mpnet at query time)' if not m.servable else ''} "
            f"| {_pct(r['val']['acc'])} | {_pct(r['val']['recall'])} | {_ms(cv_acc)} | {_ms(cv_rec)} "
            f"| {_pct(r['raw_val_acc'])} | {train_s:.0f} | {p50:.1f} | {choice} | {'yes' if met else 'no'} |"
        )
    load = os.getloadavg()
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, torch threads {config.threads}, load average at report time "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (train times are wall clock under nice 19; "
        "other jobs may share the cores).",
        "",
        "```",
        "nice -n 19 .venv/bin/python research/router_methods.py " + " ".join(sys.argv[1:]),
        "```",
        "",
        "| method | val in-scope % | val OOS recall % | CV in-scope % (mean ± std) | CV OOS recall % "
        "(mean ± std) | val raw top-1 % | train s | p50 ms | OOF choice (val fit) | targets met |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
        *rows,
        "",
        f"p50: one query at a time over the first {n} validation cases, torch, {config.threads} threads "
        "(MiniLM router pass; + kNN to the training-phrasing matrix; + an mpnet pass for the teacher rows; "
        "the M4 rows use the base embedding the turn encoder computes in the same pass, so they are given "
        "the router pass's p50).",
        "",
    ]
    for name, s in sets.items():
        lines.append(
            f"Separation (AUROC, validation in-scope routed right vs out of scope) of the energy score, "
            f"{name or 'MiniLM router'}: {separation(s['val'], s['val'].feats['energy']):.4f}."
        )
    if partial_kd is not None:
        lines += [
            "",
            f"Distilled MiniLM (only the full fit; fold fits done: {partial_kd[3]}): validation raw "
            f"top-1 {_pct(partial_kd[0])} %, energy AUROC {partial_kd[1]:.4f}, train {partial_kd[2]:.0f} s; "
            "no OOF threshold or full CV without the fold fits.",
        ]
        if len(partial_kd) > 4:
            val_f, hold_s, folds_fig = partial_kd[4], partial_kd[5], partial_kd[6]
            lines += [
                "",
                f"Distilled MiniLM with the shipped rule (threshold from its own 20 % holdout fit, "
                f"keep {config.keep_rate:.1%}): validation in-scope {_pct(val_f['acc'])} %, OOS recall "
                f"{_pct(val_f['recall'])} %; train {hold_s + partial_kd[2]:.0f} s (holdout fit + full fit); "
                "CV folds fit so far, same threshold: "
                + (
                    ", ".join(f"fold {k}: {_pct(f['acc'])} % / {_pct(f['recall'])} %" for k, f in folds_fig)
                    or "none"
                )
                + ".",
            ]
    (cache / "results.json").write_text(json.dumps(results, indent=1, default=str))
    return "\n".join(lines)


def main() -> None:
    """Run the requested stages."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faq", type=Path, required=True)
    parser.add_argument("--cases", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/router_methods"))
    parser.add_argument("--teacher", type=Path, help="all-mpnet-base-v2 directory (teacher stages)")
    parser.add_argument("--stages", default="fits,report")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--latency-n", type=int, default=300)
    parser.add_argument("--kd-alpha", type=float, default=0.5)
    parser.add_argument("--kd-temperature", type=float, default=2.0)
    parser.add_argument("--tiny", action="store_true", help="RouterConfig.tiny() (smoke tests)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    config = replace(RouterConfig.tiny() if args.tiny else RouterConfig(), threads=args.threads)
    args.cache.mkdir(parents=True, exist_ok=True)
    data = load_data(args.faq, args.cases)
    print(f"load average {os.getloadavg()}", flush=True)
    stages = args.stages.split(",")
    if "fits" in stages:
        stage_fits(data, args.cache, config)
    if "teacher" in stages:
        stage_teacher(data, args.cache, args.teacher)
    if "base" in stages:
        from retrieval.embeddings import bundled_model_path

        stage_teacher(data, args.cache, bundled_model_path(), name="base")
    if "kd" in stages:
        stage_fits(
            data,
            args.cache,
            config,
            prefix="kd-",
            teacher_logits=teacher_logits_fn(data, args.cache),
            kd=(args.kd_alpha, args.kd_temperature),
        )
    for stage in stages:
        # "kd-holdout" (the shipped 20 % rule for the distilled model) or "kd-fold<k>": one fit each.
        if stage == "kd-holdout":
            mask, held = holdout_split(data, config)
        elif stage.startswith("kd-fold"):
            mask = data.fold != int(stage.removeprefix("kd-fold"))
            held = [(data.texts[i], int(data.y[i])) for i in np.flatnonzero(~mask)]
        else:
            continue
        teacher = teacher_logits_fn(data, args.cache)(mask)
        run_fit(data, stage, mask, held, args.cache, config, teacher, (args.kd_alpha, args.kd_temperature),
                bank=False)
    if "report" in stages:
        text = stage_report(data, args.cache, args, config)
        print(text)
        if args.out:
            args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
