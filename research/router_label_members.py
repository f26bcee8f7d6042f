"""Which label rule for the accurate profile: the two models' mean, reweighted, or with a third
member (issue 28: "the M3b ensemble, or whatever beats it on validation and cross-validation").

The accurate profile's best entry is the argmax of the mean log-softmax of the MiniLM router and
the mpnet head (``retrieval/router_ensemble.py``). Its misses on CLINC150 validation and BANKING77
are mostly near-intent confusions (docs/quality.md), which is where the label rule, not the decline
threshold, decides. Every variant here keeps the served answer score (the two energies and the
neighbour term), the served keep rate and the served calibration rule; only the label changes, and
with it which held-out phrasings count as "routed right" when the threshold is set.

Variants (a small set fixed before the run, each with a reason):

- ``served``: the mean of the two log-softmaxes.
- ``minilm w``: ``w`` of MiniLM's log-softmax and ``1 - w`` of mpnet's (is the even split right?).
- ``knn k τ λ``: the two plus ``λ`` times a nearest-neighbour member in the mpnet space the
  profile already searches for its decline term: the label distribution of the ``k`` nearest
  in-scope phrasings, weighted by ``softmax(cosine / τ)`` (a non-parametric vote that keeps the
  shop's individual phrasings, which two linear heads average away).
- ``l2 x``: the mpnet head refit with L2 ``x`` instead of 1e-4.
- ``tempered`` (added 2026-12-06, second session): the mean of the two log-softmaxes, each model's
  logits first divided by the temperature that minimises its own negative log-likelihood on the
  calibration rows (the held-out phrasings the threshold is set on): the two models' confidences
  put on one scale before they are averaged, with nothing chosen by hand (Guo et al. 2017's
  temperature scaling, per member).
- ``base λ`` (added 2026-12-06): the two plus ``λ`` times a third linear head, the same logistic
  regression on the frozen base MiniLM embedding the turn encoder already returns with the router's
  logits (method M4b's member: free at serving). Needs ``base.npz`` in the cache
  (``router_methods.py --stages base``).

The rule, from the issue: a variant replaces the served one only if it answers more in-scope
phrasings than the served rule in CV (mean of 5 folds) *and* on validation, with out-of-scope
recall still >= 88 % in both; among those, the best CV in-scope figure. BANKING77 is then scored
once with the winner, never used here.

    python research/router_label_members.py --faq ../shared/benchmarks/clinc150_faq.json \\
        --cases ../shared/benchmarks/clinc150_val.jsonl --cache /tmp/rm_now --out /tmp/labels.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import router_calibration as cal  # noqa: E402
from router_methods import K_FOLDS, Data, holdout_split, load_data  # noqa: E402

import retrieval.router_ensemble as ens  # noqa: E402
from retrieval.router import in_scope_scores  # noqa: E402
from retrieval.router_ensemble import _log_softmax as log_softmax  # noqa: E402
from retrieval.router_train import keep_threshold  # noqa: E402

KEEP_RATE = 0.995  # the served ACCURATE_KEEP_RATE
OOS_TARGET = 88.0
BASE = "base"
EPS = 1e-3  # the kNN member's floor: a label no neighbour carries is unlikely, not impossible


def knn_logp(emb: np.ndarray, bank: np.ndarray, bank_y: np.ndarray, n_labels: int, k: int,
             tau: float) -> np.ndarray:
    """Log of the similarity-weighted label distribution of each row's ``k`` nearest bank rows."""
    sims = np.asarray(emb, dtype=np.float32) @ bank.T
    idx = np.argpartition(sims, sims.shape[1] - k, axis=1)[:, -k:]
    top = np.take_along_axis(sims, idx, axis=1)
    w = np.exp((top - top.max(axis=1, keepdims=True)) / tau)
    w /= w.sum(axis=1, keepdims=True)
    p = np.zeros((len(emb), n_labels), dtype=np.float64)
    np.add.at(p, (np.repeat(np.arange(len(emb)), k), bank_y[idx].ravel()), w.ravel())
    return np.log(p * (1 - EPS) + EPS / n_labels)


Combine = Callable[[np.ndarray, np.ndarray, np.ndarray | None], np.ndarray]


def mean_rule(a: np.ndarray, b: np.ndarray, _: np.ndarray | None) -> np.ndarray:
    """The served label rule: the mean of the two log-softmaxes."""
    return 0.5 * (log_softmax(a) + log_softmax(b))


def weighted_rule(w: float, a: np.ndarray, b: np.ndarray, _: np.ndarray | None) -> np.ndarray:
    """``w`` of MiniLM's log-softmax and ``1 - w`` of mpnet's."""
    return w * log_softmax(a) + (1 - w) * log_softmax(b)


def knn_rule(lam: float, a: np.ndarray, b: np.ndarray, c: np.ndarray | None) -> np.ndarray:
    """The two log-softmaxes and ``lam`` times the kNN member's log-probabilities."""
    assert c is not None
    return (log_softmax(a) + log_softmax(b) + lam * c) / (2 + lam)


TEMPERATURES = np.exp(np.linspace(np.log(0.1), np.log(10.0), 93))  # 5 % steps


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature (of a 5 % grid from 0.1 to 10) with the lowest mean negative log-likelihood
    of the in-scope rows' labels (``y`` >= 0; -1 marks out-of-scope rows, left out)."""
    rows = np.flatnonzero(y >= 0)
    nll = [-log_softmax(logits[rows] / t)[np.arange(len(rows)), y[rows]].mean() for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(nll))])


@dataclass(frozen=True)
class Tempered:
    """The mean of the two log-softmaxes at per-model temperatures; ``calibrate`` fits them."""

    minilm_t: float = 1.0
    mpnet_t: float = 1.0

    def __call__(self, a: np.ndarray, b: np.ndarray, _: np.ndarray | None) -> np.ndarray:
        return 0.5 * (log_softmax(a / self.minilm_t) + log_softmax(b / self.mpnet_t))

    def calibrate(self, a: np.ndarray, b: np.ndarray, y: np.ndarray) -> Tempered:
        """This rule at the temperatures fit on calibration rows ``a``, ``b`` with labels ``y``."""
        return Tempered(fit_temperature(a, y), fit_temperature(b, y))


Third = tuple[int, float] | str | None  # kNN (k, τ), BASE (the base MiniLM head) or no third member


def variants() -> dict[str, tuple[Combine, Third, float | None]]:
    """name → (label rule on (minilm, mpnet, third log-probs), third member, head L2 or None)."""
    out: dict[str, tuple[Combine, Third, float | None]] = {"served": (mean_rule, None, None)}
    for w in (0.35, 0.65):
        out[f"minilm {w}"] = (partial(weighted_rule, w), None, None)
    for k, tau in ((10, 0.05), (25, 0.02)):
        for lam in (0.5, 1.0):
            out[f"knn {k} {tau} {lam}"] = (partial(knn_rule, lam), (k, tau), None)
    for l2 in (1e-5, 1e-3):
        out[f"l2 {l2:g}"] = (mean_rule, None, l2)
    for lam in (0.5, 1.0):
        out[f"base {lam}"] = (partial(knn_rule, lam), BASE, None)
    out["tempered"] = (Tempered(), None, None)
    return out


def _cat(xs: list[np.ndarray | None]) -> np.ndarray | None:
    return None if xs[0] is None else np.concatenate([x for x in xs if x is not None])


def run(data: Data, cache: Path, train_emb: np.ndarray, val_emb: np.ndarray) -> list[dict[str, Any]]:
    """CV and validation figures of every variant at the served keep rate."""
    heads: dict[float, cal.Heads] = {}
    fits = load_fits(cache)
    base: cal.Heads | None = None
    results = []
    for name, (combine, third, l2) in variants().items():
        key = ens.L2 if l2 is None else l2
        if key not in heads:
            saved, ens.L2 = ens.L2, key  # the research knob: fit_head reads the module's L2
            heads[key] = cal.fit_heads(data, train_emb, val_emb)
            ens.L2 = saved
        if third == BASE and base is None:
            z = np.load(cache / "base.npz")
            base = cal.fit_heads(data, z["train"], z["val"])
        cv, val = score_variant(data, fits, train_emb, val_emb, heads[key], combine, third, base)
        row = {"variant": name, "cv_folds": cv,
               "cv": {m: float(np.mean([f[m] for f in cv])) for m in ("in_scope", "oos_recall")},
               "val": val}
        results.append(row)
        print(json.dumps({"variant": name, "cv": row["cv"], "val": val}), flush=True)
    return results


Fits = tuple[list[dict[str, np.ndarray]], dict[str, np.ndarray], dict[str, np.ndarray]]


def load_fits(cache: Path) -> Fits:
    """The MiniLM fits' arrays: the five folds, the 20 % holdout fit and the full fit."""
    return ([dict(np.load(cache / f"fit-fold{k}.npz")) for k in range(K_FOLDS)],
            dict(np.load(cache / "fit-holdout.npz")), dict(np.load(cache / "fit-full.npz")))


def score_variant(
    data: Data, fits: Fits, train_emb: np.ndarray, val_emb: np.ndarray, heads: cal.Heads, combine: Combine,
    third: Third, base: cal.Heads | None = None,
) -> tuple[list[dict[str, float]], dict[str, float]]:
    """One label rule's per-fold CV figures and its validation figures (the served calibration);
    ``base``: the base MiniLM head's logits, as ``fit_heads`` gives them, when ``third`` is BASE."""
    labels = data.labels
    folds, holdout, full = fits
    fold_y = [cal.as_y(labels, f["held_y"]) for f in folds]
    _, held = holdout_split(data, cal._config())
    held_y = cal.as_y(labels, np.array([yy for _, yy in held]))
    inside = data.y != labels.index("out_of_scope")
    mp_oof, mp_held, mp_val, rows, mask = heads

    def nb(emb: np.ndarray, bank_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        bank = ens.bank_of(train_emb[bank_mask])
        sim = ens.neighbour_similarity(emb, bank, ens.NEIGHBOURS)
        kl = knn_logp(emb, bank, data.y[bank_mask], len(labels), *third) if isinstance(third, tuple) else None
        return sim, kl

    def decider(pm: np.ndarray, pt: np.ndarray, pn: np.ndarray, pk: np.ndarray | None,
                py: np.ndarray) -> Callable[..., np.ndarray]:
        scale = ens.scale_of(pm, pt, labels, pn)
        rule = combine
        if isinstance(combine, Tempered):  # its temperatures come from these calibration rows
            rule = combine.calibrate(pm, pt, py)
            print(f"  temperatures: minilm {rule.minilm_t:.3f}, mpnet {rule.mpnet_t:.3f}", flush=True)

        def scores(a: np.ndarray, b: np.ndarray, s: np.ndarray, kl: np.ndarray | None) -> Any:
            _, score, columns = ens.ensemble_scores(a, b, labels, scale, s)
            probs, _, _ = in_scope_scores(rule(a, b, kl), labels)
            return probs, score, columns

        thr = keep_threshold(cal.right_scores(scores(pm, pt, pn, pk), py), KEEP_RATE)
        return lambda a, b, s, kl: ens.decisions(*scores(a, b, s, kl), thr)

    oof = [nb(train_emb[data.fold == k], (data.fold != k) & inside) for k in range(K_FOLDS)]
    h_sim, h_kl = nb(train_emb[rows], mask & inside)
    v_sim, v_kl = nb(val_emb, inside)
    if third == BASE:
        assert base is not None
        b_oof, b_held, b_val, _, _ = base
        oof = [(sim, log_softmax(b)) for (sim, _), b in zip(oof, b_oof, strict=True)]
        h_kl, v_kl = log_softmax(b_held), log_softmax(b_val)
    cv = []
    for k in range(K_FOLDS):
        others = [j for j in range(K_FOLDS) if j != k]
        decide = decider(np.concatenate([folds[j]["held_logits"] for j in others]),
                         np.concatenate([mp_oof[j] for j in others]),
                         np.concatenate([oof[j][0] for j in others]),
                         _cat([oof[j][1] for j in others]),
                         np.concatenate([fold_y[j] for j in others]))
        cv.append(cal.figures(decide(folds[k]["held_logits"], mp_oof[k], *oof[k]), fold_y[k]))
    decide = decider(holdout["held_logits"], mp_held, h_sim, h_kl, held_y)
    return cv, cal.figures(decide(full["val_logits"], mp_val, v_sim, v_kl), data.val_y)


def choose(results: list[dict[str, Any]]) -> str:
    """The module docstring's rule: better than ``served`` in CV and on validation, OOS >= 88 %."""
    base = next(r for r in results if r["variant"] == "served")
    ok = [r for r in results if r["variant"] != "served"
          and r["cv"]["in_scope"] > base["cv"]["in_scope"] and r["val"]["in_scope"] > base["val"]["in_scope"]
          and min(r["cv"]["oos_recall"], r["val"]["oos_recall"]) >= OOS_TARGET]
    return max(ok, key=lambda r: r["cv"]["in_scope"])["variant"] if ok else "served"


def markdown(results: list[dict[str, Any]], chosen: str) -> str:
    """One row per variant, with the per-fold in-scope change against ``served``."""
    base = next(r for r in results if r["variant"] == "served")
    lines = ["| label rule | CV in-scope % | CV OOS % | folds better / worse than served | val in-scope % "
             "| val OOS % |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        d = [f["in_scope"] - b["in_scope"] for f, b in zip(r["cv_folds"], base["cv_folds"], strict=True)]
        mark = " ←" if r["variant"] == chosen else ""
        lines.append(f"| {r['variant']}{mark} | {r['cv']['in_scope']:.2f} | {r['cv']['oos_recall']:.1f} "
                     f"| {sum(x > 0 for x in d)} / {sum(x < 0 for x in d)} | {r['val']['in_scope']:.2f} "
                     f"| {r['val']['oos_recall']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    """Run the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faq", type=Path, required=True)
    parser.add_argument("--cases", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True, help="router_methods.py's fits")
    parser.add_argument("--mpnet-export", type=Path, default=Path("var/encoder/mpnet"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    data = load_data(args.faq, args.cases)
    train_emb, val_emb, _ = cal.served_embeddings(data, args.cache, args.mpnet_export)
    started = time.perf_counter()
    results = run(data, args.cache, train_emb, val_emb)
    chosen = choose(results)
    text = markdown(results, chosen) + f"\n\nChosen: {chosen} ({time.perf_counter() - started:.0f} s).\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        args.out.with_suffix(".json").write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
