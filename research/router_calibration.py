"""Which decline threshold carries to new data: the operating point chosen on cross-validation and
validation together (issue 28), for the fast and the accurate router profiles.

The method study (``router_methods.py``) found that a threshold tuned on CLINC150 validation
alone over-fits it (validation 83 % out-of-scope recall, test 74.6 %). Here every candidate
operating point (``keep_rate``: the share of correctly routed in-scope phrasings the threshold
must keep answering) is scored twice, on data the threshold never saw:

- *5-fold CV on the train split*: the fold fits of ``router_methods.py`` (``fit-fold<k>.npz``);
  fold k's threshold comes from the other four folds' out-of-fold scores; the figures are fold
  k's. The accurate profile's mpnet head is refit per fold on the same four folds.
- *Validation*: exactly the product's rule (``train_router``): the 20 % holdout fit
  (``fit-holdout.npz``) and an mpnet head fit on the other 80 % set the scale and threshold; the
  full fit (``fit-full.npz``) and a head on every phrasing score CLINC150 validation.

Profiles: ``fast`` (MiniLM alone), ``m3b`` (the ensemble without neighbours, as first served),
``accurate`` (the ensemble with the nearest-neighbour similarity, as served now; each row's
neighbours are found among the in-scope phrasings its own fit saw) and ``accurate+cascade``.

The chosen ``keep_rate`` (``choose``) answers the most in-scope phrasings among those that decline
at least 88 % of out-of-scope ones in both CV and validation (the issue's target); the report
gives the gap between the two at every point, and the balanced objective (the mean over CV and
validation of (in-scope accuracy + out-of-scope recall) / 2) beside it. The mpnet
embeddings are the served ones (``MpnetEncoder`` on the int8 export), cached in the cache dir.

    python research/router_calibration.py --faq ../shared/benchmarks/clinc150_faq.json \\
        --cases ../shared/benchmarks/clinc150_val.jsonl --cache /tmp/router_methods \\
        --mpnet-export var/encoder/mpnet --out /tmp/calibration.md --json /tmp/calibration.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from router_methods import K_FOLDS, Data, holdout_split, load_data  # noqa: E402

from retrieval.router import in_scope_scores  # noqa: E402
from retrieval.router_ensemble import (  # noqa: E402
    NEIGHBOURS,
    NEIGHBOURS_WEIGHT,
    bank_of,
    cascade_outputs,
    decisions,
    ensemble_scores,
    fit_head,
    head_logits,
    neighbour_similarity,
    scale_of,
    skip_above,
)
from retrieval.router_train import keep_threshold  # noqa: E402

KEEP_RATES = (0.98, 0.985, 0.99, 0.9925, 0.995, 0.996, 0.997, 0.9975, 1.0)
# Issue 28's out-of-scope target (CLINC150 validation, and CV within a point).
OOS_TARGET = 88.0
# (probs, score, columns) of a set of rows, as in_scope_scores returns them.
Scores = tuple[np.ndarray, np.ndarray, np.ndarray]


def served_embeddings(data: Data, cache: Path, export: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """mpnet embeddings of the train phrasings and validation cases as the product serves them."""
    path = cache / "mpnet-served.npz"
    if not path.exists():
        from retrieval.mpnet import MpnetEncoder

        encoder = MpnetEncoder(export, threads=int(os.environ.get("MPNET_THREADS", "2")))
        started = time.perf_counter()
        train, val = encoder.encode(data.texts), encoder.encode(data.val_texts)
        np.savez(path, train=train, val=val, encode_s=np.array(time.perf_counter() - started),
                 version=np.array(encoder.version))
    z = np.load(path)
    return z["train"], z["val"], float(z["encode_s"])


def figures(decided: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """In-scope accuracy (a decline counts as wrong) and out-of-scope recall of decisions (-1: declined)."""
    ins = y >= 0
    return {
        "in_scope": float((decided == y)[ins].mean()) * 100,
        "oos_recall": float((decided < 0)[~ins].mean()) * 100 if (~ins).any() else float("nan"),
    }


def right_scores(scores: Scores, y: np.ndarray) -> np.ndarray:
    """Answer scores of the in-scope rows routed right (what ``keep_threshold`` keeps)."""
    probs, score, columns = scores
    top = columns[probs.argmax(axis=1)]
    return score[(top == y) & (y >= 0)]


def as_y(labels: Sequence[str], raw: np.ndarray) -> np.ndarray:
    """Label indices with out_of_scope rows as -1 (the validation convention)."""
    oos = list(labels).index("out_of_scope") if "out_of_scope" in labels else -2
    return np.where(raw == oos, -1, raw)


Heads = tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def fit_heads(data: Data, train_emb: np.ndarray, val_emb: np.ndarray) -> Heads:
    """The mpnet head's logits as each fit sees them: per fold (fit on the other four), on the 20 %
    held-out rows (fit on the rest) and on validation (fit on all); the held-out rows' indices."""
    n = len(data.labels)
    mp_oof = []
    for k in range(K_FOLDS):
        w, b = fit_head(train_emb[data.fold != k], data.y[data.fold != k], n)
        mp_oof.append(head_logits(train_emb[data.fold == k], w, b))
        print(f"mpnet head, fold {k}: done", flush=True)
    mask, rows = held_rows(data)
    w, b = fit_head(train_emb[mask], data.y[mask], n)
    w_all, b_all = fit_head(train_emb, data.y, n)
    return mp_oof, head_logits(train_emb[rows], w, b), head_logits(val_emb, w_all, b_all), rows, mask


def held_rows(data: Data) -> tuple[np.ndarray, np.ndarray]:
    """The product's 20 % holdout split of the train phrasings: the mask of the rows the holdout
    fit trains on, and the held-out rows' indices in the order that fit scores them
    (``split_holdout``'s order)."""
    mask, held = holdout_split(data, _config())
    order = {(data.texts[i], int(data.y[i])): i for i in np.flatnonzero(~mask)}
    return mask, np.array([order[(t, yy)] for t, yy in held])


def study(
    data: Data, cache: Path, train_emb: np.ndarray, val_emb: np.ndarray, heads: Heads,
    neighbours: int = NEIGHBOURS, weight: float = NEIGHBOURS_WEIGHT,
    keep_rates: Sequence[float] = KEEP_RATES, names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """CV and validation figures of the profiles at every keep rate (``neighbours`` and
    ``weight``: the nearest-neighbour term's k and weight, the served ones by default)."""
    labels = data.labels
    folds = [dict(np.load(cache / f"fit-fold{k}.npz")) for k in range(K_FOLDS)]
    holdout = dict(np.load(cache / "fit-holdout.npz"))
    full = dict(np.load(cache / "fit-full.npz"))
    mp_oof, mp_held, mp_val, rows, mask = heads
    fold_y = [as_y(labels, f["held_y"]) for f in folds]
    _, held = holdout_split(data, _config())
    held_y = as_y(labels, np.array([yy for _, yy in held]))
    val_y = data.val_y
    # Nearest-neighbour similarity among the in-scope phrasings each row's own fit saw.
    inside = data.y != labels.index("out_of_scope")
    nb_oof = [neighbour_similarity(train_emb[data.fold == k], bank_of(train_emb[(data.fold != k) & inside]),
                                   neighbours) for k in range(K_FOLDS)]
    nb_held = neighbour_similarity(train_emb[rows], bank_of(train_emb[mask & inside]), neighbours)
    nb_val = neighbour_similarity(val_emb, bank_of(train_emb[inside]), neighbours)
    # (MiniLM logits, mpnet logits, neighbours, labels) of a set of rows.
    Pool = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

    def fast(pool: Pool, keep: float) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
        """A decider for other rows from the calibration rows (MiniLM alone)."""
        pm, _, _, py = pool
        thr = keep_threshold(right_scores(in_scope_scores(pm, labels), py), keep)
        return lambda a, b, nb: decisions(*in_scope_scores(a, labels), thr)

    def accurate(cascade: bool, with_neighbours: bool) -> Any:
        def make(pool: Pool, keep: float) -> Any:
            pm, pt, pn, py = pool
            pn_or = pn if with_neighbours else None
            scale = scale_of(pm, pt, labels, pn_or)
            if with_neighbours:  # the served score weighs them NEIGHBOURS_WEIGHT: reweigh via their scale
                scale = replace(scale, neighbours_sd=scale.neighbours_sd * NEIGHBOURS_WEIGHT / weight)
            thr = keep_threshold(right_scores(ensemble_scores(pm, pt, labels, scale, pn_or), py), keep)
            if not cascade:
                return lambda a, b, nb: decisions(
                    *ensemble_scores(a, b, labels, scale, nb if with_neighbours else None), thr)
            thr_m = keep_threshold(right_scores(in_scope_scores(pm, labels), py), keep)
            scale = replace(scale, skip_above=skip_above(pm, pt, labels, scale, thr, thr_m, pn_or))

            def decide(a: np.ndarray, b: np.ndarray, nb: np.ndarray) -> np.ndarray:
                outs, _ = cascade_outputs(a, lambda r: (b[r], nb[r] if with_neighbours else None),
                                          labels, scale, thr, thr_m)
                return np.array([labels.index(o.label) if o.label is not None else -1 for o in outs])

            return decide
        return make

    profiles: dict[str, Any] = {"fast": fast, "m3b": accurate(False, False),
                                "accurate": accurate(False, True), "accurate+cascade": accurate(True, True)}
    out: dict[str, Any] = {}
    for name, maker in profiles.items():
        if names is not None and name not in names:
            continue
        rows_out = []
        for keep in keep_rates:
            cv = []
            for k in range(K_FOLDS):
                others = [j for j in range(K_FOLDS) if j != k]
                pool = (np.concatenate([folds[j]["held_logits"] for j in others]),
                        np.concatenate([mp_oof[j] for j in others]),
                        np.concatenate([nb_oof[j] for j in others]),
                        np.concatenate([fold_y[j] for j in others]))
                decide = maker(pool, keep)
                cv.append(figures(decide(folds[k]["held_logits"], mp_oof[k], nb_oof[k]), fold_y[k]))
            decide = maker((holdout["held_logits"], mp_held, nb_held, held_y), keep)
            val = figures(decide(full["val_logits"], mp_val, nb_val), val_y)
            cv_mean = {m: float(np.mean([f[m] for f in cv])) for m in ("in_scope", "oos_recall")}
            cv_std = {m: float(np.std([f[m] for f in cv])) for m in ("in_scope", "oos_recall")}
            objective = np.mean([(cv_mean["in_scope"] + cv_mean["oos_recall"]) / 2,
                                 (val["in_scope"] + val["oos_recall"]) / 2])
            rows_out.append({"keep_rate": keep, "cv_mean": cv_mean, "cv_std": cv_std, "val": val,
                             "objective": float(objective),
                             "gap": {m: val[m] - cv_mean[m] for m in ("in_scope", "oos_recall")}})
        out[name] = {"rows": rows_out, "chosen": choose(rows_out)}
    return out


def choose(rows: Sequence[dict[str, Any]]) -> float:
    """The issue's targets as the rule: the keep rate that answers the most in-scope phrasings
    (mean of CV and validation) among those declining >= ``OOS_TARGET`` % of out-of-scope ones in
    both CV (mean) and validation; the best balanced objective when none does."""
    ok = [r for r in rows if min(r["cv_mean"]["oos_recall"], r["val"]["oos_recall"]) >= OOS_TARGET]
    if not ok:
        return float(max(rows, key=lambda r: r["objective"])["keep_rate"])
    return float(max(ok, key=lambda r: r["cv_mean"]["in_scope"] + r["val"]["in_scope"])["keep_rate"])


def _config() -> Any:
    from retrieval.router import RouterConfig

    return RouterConfig()


def markdown(result: dict[str, Any], command: str, encode_s: float, load: str) -> str:
    """The study as a Markdown table per profile."""
    lines = [f"Command: `{command}`; load average at the end {load}; mpnet encoding of "
             f"{result['n_texts']} texts {encode_s:.0f} s.", ""]
    for name in ("fast", "m3b", "accurate", "accurate+cascade"):
        part = result[name]
        lines += [f"**{name}** (chosen keep rate {part['chosen']})", "",
                  "| keep rate | CV in-scope % | CV OOS recall % | val in-scope % | val OOS recall % "
                  "| gap in-scope (val − CV) | gap OOS | objective |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in part["rows"]:
            mark = " ←" if r["keep_rate"] == part["chosen"] else ""
            lines.append(
                f"| {r['keep_rate']}{mark} | {r['cv_mean']['in_scope']:.2f} ± {r['cv_std']['in_scope']:.2f} "
                f"| {r['cv_mean']['oos_recall']:.1f} ± {r['cv_std']['oos_recall']:.1f} "
                f"| {r['val']['in_scope']:.2f} | {r['val']['oos_recall']:.1f} "
                f"| {r['gap']['in_scope']:+.2f} | {r['gap']['oos_recall']:+.1f} | {r['objective']:.2f} |")
        lines.append("")
    return "\n".join(lines)


GRID_K = (1, 3, 5, 10)
GRID_WEIGHTS = (0.5, 1.0, 1.5, 2.0, 3.0)
GRID_KEEP = (0.995, 0.996, 0.997)


def neighbour_grid(data: Data, cache: Path, train_emb: np.ndarray, val_emb: np.ndarray, heads: Heads) -> str:
    """The accurate profile's CV and validation figures for each k and weight of the neighbour
    term (how the served k and weight were chosen), as a Markdown table."""
    heads_row = " | ".join(f"{keep}: CV in / OOS | {keep}: val in / OOS" for keep in GRID_KEEP)
    rule = " | ".join("---: | ---:" for _ in GRID_KEEP)
    lines = [f"| k | weight | {heads_row} |", f"| ---: | ---: | {rule} |"]
    for k in GRID_K:
        for w in GRID_WEIGHTS:
            result = study(data, cache, train_emb, val_emb, heads, k, w, GRID_KEEP, ("accurate",))
            rows = result["accurate"]["rows"]
            cells = [f"{r['cv_mean']['in_scope']:.2f} / {r['cv_mean']['oos_recall']:.0f} | "
                     f"{r['val']['in_scope']:.2f} / {r['val']['oos_recall']:.0f}" for r in rows]
            lines.append(f"| {k} | {w} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    return "\n".join(lines)


def main() -> None:
    """Run the study."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faq", type=Path, required=True)
    parser.add_argument("--cases", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/router_methods"),
                        help="router_methods.py's cache: fit-fold0..4, fit-holdout, fit-full")
    parser.add_argument("--mpnet-export", type=Path, default=Path("var/encoder/mpnet"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--neighbour-grid", action="store_true",
                        help="instead: the accurate profile for each k and weight of the neighbour term")
    args = parser.parse_args()
    data = load_data(args.faq, args.cases)
    train_emb, val_emb, encode_s = served_embeddings(data, args.cache, args.mpnet_export)
    heads = fit_heads(data, train_emb, val_emb)
    if args.neighbour_grid:
        text = neighbour_grid(data, args.cache, train_emb, val_emb, heads)
        print(text)
        if args.out:
            args.out.write_text(text, encoding="utf-8")
        return
    result = study(data, args.cache, train_emb, val_emb, heads)
    result["n_texts"] = len(data.texts) + len(data.val_texts)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    text = markdown(result, " ".join(["python", *sys.argv]), encode_s, load)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
