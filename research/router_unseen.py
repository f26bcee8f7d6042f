"""The router on a data set nobody tuned on: BANKING77 (issue 12: "it has to carry to the next shop").

BANKING77 (Casanueva et al. 2020, CC BY 4.0; github.com/PolyAI-LDN/task-specific-datasets,
``banking_data/train.csv`` and ``test.csv``) is not in this repository. ``prepare`` turns its
two CSV files into the knowledge and cases formats ``shopbot eval`` reads; ``run`` trains the
router exactly as ``shopbot eval`` does (both fits, the calibrated threshold, served on ONNX
int8 through the server's routing policy) and scores the test cases, next to the baseline
the issue names: a logistic-regression head on the frozen all-MiniLM-L6-v2 embeddings, its
``C`` chosen on the router's own 20 % calibration split of the *train* file (never on test).

    python research/router_unseen.py prepare --data DIR --out /tmp/b77
    python research/router_unseen.py run --faq /tmp/b77/banking77_faq.json \\
        --cases /tmp/b77/banking77_test.jsonl [--max-seq-length 32] --json

Besides the in-scope accuracy (a declined case counts as wrong, as in ``shopbot eval``), it
reports the router's raw top-1 (its best entry, declined or not) and the share it declined:
BANKING77 has no out-of-scope cases, so every decline costs accuracy there.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.engine.interfaces import Signals  # noqa: E402
from bot.engine.nlu import extract  # noqa: E402
from bot.engine.policy import RoutingThresholds, answered_entry, decide  # noqa: E402
from bot.training.router_eval import Case, load_cases  # noqa: E402
from core.turns import RouterOutput  # noqa: E402
from retrieval.knowledge import KnowledgeEntry, load_knowledge  # noqa: E402
from retrieval.router import OUT_OF_SCOPE, RouterConfig  # noqa: E402
from retrieval.router_train import split_holdout, train_router  # noqa: E402
from retrieval.turn_encoder import export_onnx, turn_encoder  # noqa: E402

C_GRID = (1.0, 10.0, 100.0)


def policy_label(text: str, routed: RouterOutput, thresholds: RoutingThresholds) -> str | None:
    """The entry the routing policy answers ``text`` from, given the router's output (None: none).

    The experiment's own copy of the two lines ``bot/training/router_eval.py`` had when the
    BANKING77 figures in docs/quality.md were measured: the router's output and the message's
    entities through the policy, with no knowledge search (the product's evaluation now routes
    as the server's first turn does; this keeps the measured figures reproducible).
    """
    return answered_entry(decide(Signals(routed, entities=extract(text)), thresholds))


def prepare(data: Path, out: Path) -> tuple[Path, Path]:
    """Write ``banking77_faq.json`` (train split) and ``banking77_test.jsonl`` (test split)."""
    out.mkdir(parents=True, exist_ok=True)
    by_intent: dict[str, list[str]] = defaultdict(list)
    with (data / "train.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            by_intent[row["category"]].append(row["text"].strip())
    faq = out / "banking77_faq.json"
    # Answers are placeholders: only routing is scored. No out_of_scope entry: BANKING77 has none.
    faq.write_text(json.dumps([{"id": k, "questions": v, "answer": f"({k})"}
                               for k, v in sorted(by_intent.items())]), encoding="utf-8")
    cases = out / "banking77_test.jsonl"
    with (data / "test.csv").open(encoding="utf-8", newline="") as f, cases.open("w", encoding="utf-8") as w:
        for row in csv.DictReader(f):
            w.write(json.dumps({"text": row["text"].strip(), "expected": row["category"]}) + "\n")
    return faq, cases


def router_figures(entries: list[KnowledgeEntry], cases: list[Case], config: RouterConfig,
                   work: Path) -> dict[str, Any]:
    """Train as ``shopbot eval`` does, then score in-scope accuracy, raw top-1 and declines."""
    report = train_router(entries, work / "router", config=config, progress=False)
    export_onnx(report.model_dir)
    encoder = turn_encoder("onnx-int8", report.model_dir)
    encoder.warm_up()
    thresholds = RoutingThresholds()
    right = top1 = declined = 0
    for start in range(0, len(cases), 64):
        chunk = cases[start : start + 64]
        for case, out in zip(chunk, encoder.run([c.text for c in chunk]), strict=True):
            label = policy_label(case.text, out.routed, thresholds)
            label = None if label == OUT_OF_SCOPE else label
            right += label == case.expected
            top1 += out.routed.top_label == case.expected
            declined += label is None
    n = len(cases)
    return {"in_scope_accuracy": right / n, "raw_top1": top1 / n, "declined": declined / n,
            "train_s": report.train_s, "threshold": report.threshold,
            "max_seq_length": config.max_seq_length}


def logistic_figures(entries: list[KnowledgeEntry], cases: list[Case], seed: int) -> dict[str, Any]:
    """Logistic regression on frozen base-MiniLM embeddings; ``C`` picked on a train-only split."""
    from sklearn.linear_model import LogisticRegression

    from retrieval.embeddings import SentenceEncoder

    encoder = SentenceEncoder()
    started = time.perf_counter()
    kept, held = split_holdout(entries, 0.2, seed)

    def xy(pairs: list[tuple[str, str]]) -> tuple[np.ndarray, list[str]]:
        return encoder.encode([t for t, _ in pairs]), [label for _, label in pairs]

    x_kept, y_kept = xy([(q, e.id) for e in kept for q in e.questions])
    x_held, y_held = xy([(x.text, x.label) for x in held])
    dev = {c: float(np.mean(LogisticRegression(C=c, max_iter=3000).fit(x_kept, y_kept).predict(x_held)
                            == np.array(y_held))) for c in C_GRID}
    best = max(C_GRID, key=lambda c: dev[c])
    x_all, y_all = np.concatenate([x_kept, x_held]), y_kept + y_held
    clf = LogisticRegression(C=best, max_iter=3000).fit(x_all, y_all)
    predicted = clf.predict(encoder.encode([c.text for c in cases]))
    accuracy = float(np.mean([p == c.expected for p, c in zip(predicted, cases, strict=True)]))
    return {"in_scope_accuracy": accuracy, "C": best, "dev_accuracy": dev,
            "train_s": time.perf_counter() - started}


def main() -> None:
    """``prepare`` or ``run``; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="BANKING77 CSV files -> knowledge + cases")
    p.add_argument("--data", type=Path, required=True, help="folder with train.csv and test.csv")
    p.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("run", help="train the router and the baseline, score the cases")
    r.add_argument("--faq", type=Path, required=True)
    r.add_argument("--cases", type=Path, required=True)
    r.add_argument("--max-seq-length", type=int, default=None,
                   help="override the router's token cap (default: the shipped RouterConfig)")
    r.add_argument("--no-baseline", action="store_true", help="skip the logistic baseline")
    r.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.command == "prepare":
        for path in prepare(args.data, args.out):
            print(path)
        return
    entries = load_knowledge(args.faq)
    cases = load_cases(args.cases, {e.id for e in entries})
    config = RouterConfig()
    if args.max_seq_length is not None:
        config = replace(config, max_seq_length=args.max_seq_length)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as work:
        router = router_figures(entries, cases, config, Path(work))
    result: dict[str, Any] = {"n": len(cases), "router": router}
    if not args.no_baseline:
        result["logistic_frozen_minilm"] = logistic_figures(entries, cases, config.seed)
    result["load_before"], result["load_after"] = list(load), list(os.getloadavg())
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
