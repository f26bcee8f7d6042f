"""Router accuracy / out-of-scope recall trade-off on a labelled cases file (CLINC150 validation).

Trains the router with ``bot.training.router_eval.evaluate`` (official figures at the calibrated
threshold, one query at a time), then sweeps the decline threshold over the trained model's
scores, and does the same for a frozen-encoder baseline: all-MiniLM-L6-v2 as shipped, cosine
to the nearest training phrasing, declining when that phrasing is an out_of_scope example or
the cosine is below the threshold. Writes a Markdown section.

    python research/router_curve.py \\
        --faq /work/shared/benchmarks/clinc150_faq.json \\
        --cases /work/shared/benchmarks/clinc150_val.jsonl --out docs/router_curve.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bot.training.router_eval import Case, evaluate, load_cases  # noqa: E402
from bot.training.scores import score_router  # noqa: E402
from retrieval.knowledge import load_knowledge  # noqa: E402
from retrieval.router import OUT_OF_SCOPE, RouterConfig, TrainedRouter  # noqa: E402

# Router confidence is sigmoid(energy - calibrated threshold): 0.5 is the calibrated point.
ROUTER_GRID = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
BASELINE_GRID = (0.0, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


def sweep(cases: Sequence[Case], top: Sequence[str | None], score: np.ndarray, threshold: float) -> dict:
    """Figures when answering ``top`` only where ``score >= threshold`` (top None: decline)."""
    predicted = [t if s >= threshold else None for t, s in zip(top, score, strict=True)]
    s = score_router([c.expected for c in cases], predicted)
    return {"threshold": threshold, "acc": s.in_scope_accuracy, "recall": s.oos_recall,
            "precision": s.oos_precision, "f1": s.macro_f1}


def operating_points(cases: Sequence[Case], top: Sequence[str | None], score: np.ndarray) -> dict:
    """Best OOS recall at >= 96 % in-scope accuracy, and best accuracy at >= 80 % recall."""
    expected = [c.expected for c in cases]
    in_scope = np.array([e is not None for e in expected])
    right = np.array([t == e for t, e in zip(top, expected, strict=True)]) & in_scope
    declined_anyway = np.array([t is None for t in top])
    acc, recall = [], []
    # Every distinct score is a threshold worth trying; vectorised, since macro-F1 is not needed.
    for t in np.unique(np.append(score, 0.0)):
        answered = (score >= t) & ~declined_anyway
        acc.append((right & answered).sum() / max(1, in_scope.sum()))
        recall.append((~in_scope & ~answered).sum() / max(1, (~in_scope).sum()))
    at_acc = [r for a, r in zip(acc, recall, strict=True) if a >= 0.96]
    at_recall = [a for a, r in zip(acc, recall, strict=True) if r >= 0.80]
    return {"recall_at_acc96": max(at_acc, default=None), "acc_at_recall80": max(at_recall, default=None)}


def frozen_baseline(faq: Path, cases: Sequence[Case]) -> tuple[list[str | None], np.ndarray]:
    """Nearest training phrasing with the shipped encoder: its entry (None if OOS) and cosine."""
    from retrieval.embeddings import SentenceEncoder

    entries = load_knowledge(faq)
    labels = [e.id for e in entries for _ in e.questions]
    encoder = SentenceEncoder()
    train = encoder.encode([q for e in entries for q in e.questions])
    queries = encoder.encode([c.text for c in cases])
    sims = queries @ train.T
    nearest = sims.argmax(axis=1)
    top = [None if labels[i] == OUT_OF_SCOPE else labels[i] for i in nearest]
    return top, sims.max(axis=1)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _table(rows: list[dict], head: str, marked: float | None = None) -> list[str]:
    out = [f"| {head} | in-scope accuracy | OOS recall | OOS precision | macro-F1 |",
           "| ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        name = f"{r['threshold']:.2f}"
        if r["threshold"] == marked:
            name = f"**{r['threshold']:.2f} (calibrated)**"
        out.append(f"| {name} | {_pct(r['acc'])} | {_pct(r['recall'])} | {_pct(r['precision'])} "
                   f"| {_pct(r['f1'])} |")
    return out


def report(args: argparse.Namespace, official: dict, router_rows: list[dict], router_points: dict,
           base_rows: list[dict], base_points: dict, threshold: float, calibration: dict) -> str:
    """The Markdown section."""
    lines = [
        "### Router trade-off curve",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPU cores, torch threads {args.threads}; cases: `{args.cases.name}` "
        f"({official['n']} cases). Command:",
        "",
        "```",
        "python research/router_curve.py " + " ".join(sys.argv[1:]),
        "```",
        "",
        f"At the calibrated threshold ({threshold:.4f}; {calibration.get('rule', '')}): in-scope accuracy "
        f"**{_pct(official['in_scope_accuracy'])}**, OOS recall **{_pct(official['oos_recall'])}**, "
        f"OOS precision {_pct(official['oos_precision'])}, OOS F1 {_pct(official['oos_f1'])}, "
        f"macro-F1 {_pct(official['macro_f1'])}; training {official['train_s']:.0f} s; latency per "
        f"query p50 {official['p50_ms']:.1f} ms, p95 {official['p95_ms']:.1f} ms.",
        "",
        f"Held-out calibration phrasings: {calibration.get('held_out_in_scope')} in scope, "
        f"{calibration.get('held_out_oos')} out of scope; first-fit accuracy on them "
        f"{_pct(calibration.get('held_out_accuracy'))}, OOS recall at the threshold "
        f"{_pct(calibration.get('held_out_oos_recall'))}.",
        "",
        "Trained router (fine-tuned MiniLM, softmax head with an out_of_scope class; score = "
        "energy of the in-scope logits; confidence = sigmoid(score − calibrated threshold)):",
        "",
        *_table(router_rows, "confidence ≥", marked=0.5),
        "",
        f"Best OOS recall at ≥ 96 % in-scope accuracy: {_pct(router_points['recall_at_acc96'])}; "
        f"best in-scope accuracy at ≥ 80 % OOS recall: {_pct(router_points['acc_at_recall80'])}.",
        "",
        "Frozen-encoder baseline (shipped all-MiniLM-L6-v2, cosine to the nearest training "
        "phrasing; nearest phrasing out_of_scope → decline):",
        "",
        *_table(base_rows, "cosine ≥"),
        "",
        f"Best OOS recall at ≥ 96 % in-scope accuracy: {_pct(base_points['recall_at_acc96'])}; "
        f"best in-scope accuracy at ≥ 80 % OOS recall: {_pct(base_points['acc_at_recall80'])}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Train, sweep, write the section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faq", type=Path, required=True)
    parser.add_argument("--cases", type=Path, required=True)
    parser.add_argument("--out", type=Path, help="Markdown file to write (default: stdout only)")
    parser.add_argument("--work-dir", type=Path, help="keep the trained router here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    config = RouterConfig(threads=args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work_dir or Path(tmp)
        official = evaluate(args.faq, args.cases, work_dir=work, config=config)
        cases = load_cases(args.cases)
        router = TrainedRouter(work / "router")
        outputs = router.run([c.text for c in cases])
        calibration = router.calibration
    top = [o.top_label for o in outputs]
    score = np.array([o.confidence for o in outputs])
    threshold = router.threshold
    router_rows = [sweep(cases, top, score, t) for t in ROUTER_GRID]
    router_points = operating_points(cases, top, score)
    base_rows: list[dict] = []
    base_points = {"recall_at_acc96": None, "acc_at_recall80": None}
    if not args.no_baseline:
        btop, bscore = frozen_baseline(args.faq, cases)
        base_rows = [sweep(cases, btop, bscore, t) for t in BASELINE_GRID]
        base_points = operating_points(cases, btop, bscore)
    text = report(args, official, router_rows, router_points, base_rows, base_points, threshold, calibration)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
