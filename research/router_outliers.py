"""Outlier exposure for the router: generic off-topic questions added to ``out_of_scope`` (issue 12).

The router learns what to decline from the knowledge's ``out_of_scope`` entry: 100 phrasings on
CLINC150, none at all in most shops. Outlier exposure (Hendrycks et al. 2019) trains the
decline side on a large auxiliary set of text that is off-topic for *any* shop; here the
TREC question-classification training questions (Li & Roth 2002, 5,452 trivia questions:
``train_5500.label``, not in this repository). Some of them are in scope for a given shop
("how many calories are in a big mac" is a CLINC150 intent), so an automatic rule that uses the
knowledge's own phrasings only, never a case file, drops every auxiliary question whose
nearest in-scope phrasing (frozen all-MiniLM-L6-v2 cosine) is as close as the loosest
``--percentile`` % of in-scope phrasings are to another phrasing of their own entry.

    python research/router_outliers.py prepare --faq ../shared/benchmarks/clinc150_faq.json \\
        --trec train_5500.label --out /tmp/oe --percentile 1
    shopbot eval --faq /tmp/oe/outliers_faq.json --cases ../shared/benchmarks/clinc150_val.jsonl --json
    python research/router_outliers.py cv --faq ../shared/benchmarks/clinc150_faq.json \\
        [--outliers /tmp/oe/outliers.json]      # without: the shipped router, the control
    python research/router_outliers.py nearness --faq ../shared/benchmarks/clinc150_faq.json \\
        --outliers /tmp/oe/outliers.json --cases ../shared/benchmarks/clinc150_val.jsonl

``cv`` is ``shopbot eval --rasa-project --folds`` on the knowledge file, the outliers joining
every fold's training data and never its scored fold: ``cross_validate_with_outliers``, this
experiment's copy of ``bot.training.cross_validation.cross_validate`` with that one change.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.training.cross_validation import METRICS, fold_scores, stratified_folds, training_entries  # noqa: E402
from bot.training.router_eval import load_cases  # noqa: E402
from retrieval.knowledge import KnowledgeEntry, load_knowledge  # noqa: E402
from retrieval.router import OUT_OF_SCOPE, RouterConfig  # noqa: E402
from retrieval.router_train import train_router  # noqa: E402
from retrieval.turn_encoder import export_onnx, turn_encoder  # noqa: E402

# A few TREC lines carry part-of-speech tags where words were lost ("Who wrote NN DT NNP NNP ?").
_TAGS = re.compile(r"\b(?:NNP|NNS|NN|CD|DT|VBP|VBZ|IN|JJ|CC)\b")


def read_trec(path: Path) -> list[str]:
    """TREC ``LABEL:fine Question ?`` lines -> questions written the way CLINC150's are."""
    questions: dict[str, None] = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        _, _, text = line.strip().partition(" ")
        if not text or _TAGS.search(text):
            continue
        text = text.lower().replace(" s ", "'s ").replace(" ,", ",")
        text = re.sub(r"\s+[?.]$", "", text)
        text = re.sub(r"\s+", " ", text).strip()
        if text:
            questions[text] = None
    return list(questions)



def with_out_of_scope(entries: Sequence[KnowledgeEntry], extra: Sequence[str]) -> list[KnowledgeEntry]:
    """``entries`` with ``extra`` phrasings appended to the ``out_of_scope`` entry (made if missing)."""
    if not extra:
        return list(entries)
    out = [e for e in entries if e.id != OUT_OF_SCOPE]
    own = next((e.questions for e in entries if e.id == OUT_OF_SCOPE), ())
    seen = set(own)
    added = tuple(q for q in dict.fromkeys(extra) if q not in seen)
    return [*out, KnowledgeEntry(OUT_OF_SCOPE, (*own, *added), None)]


def cross_validate_with_outliers(
    entries: Sequence[KnowledgeEntry],
    outliers: Sequence[str],
    *,
    folds: int,
    work_dir: Path,
    config: RouterConfig = RouterConfig(),  # noqa: B008 - frozen, so a shared default is safe
    backend: str = "onnx-int8",
    threads: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """``bot.training.cross_validation.cross_validate`` with ``outliers`` in every fold's training.

    The outliers join each fold's training ``out_of_scope`` entry and are never scored; with
    none, this is the product's cross-validation (the control). The folds, the training and
    the per-fold figures are the product's own functions, so both arms are scored alike.
    """
    started = time.perf_counter()
    per_fold: list[dict[str, Any]] = []
    expected_all: list[str | None] = []
    predicted_all: list[str | None] = []
    for n, held in enumerate(stratified_folds(entries, folds, config.seed)):
        train = with_out_of_scope(training_entries(entries, held), outliers)
        report = train_router(train, work_dir / f"fold-{n}", config=config, progress=progress)
        if backend.startswith("onnx"):
            export_onnx(report.model_dir)
        encoder = turn_encoder(backend, report.model_dir, threads)
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

    def kept(metric: str) -> list[float]:
        return [f[metric] for f in per_fold if f[metric] is not None]

    return {
        "folds": folds,
        "n_phrasings": len(expected_all),
        "n_intents": len({e.id for e in entries if e.id != OUT_OF_SCOPE}),
        "backend": backend,
        "profile": config.profile,
        "mean": {m: statistics.fmean(kept(m)) if kept(m) else None for m in METRICS},
        "std": {m: statistics.pstdev(kept(m)) if kept(m) else None for m in METRICS},
        "pooled": fold_scores(expected_all, predicted_all),
        "per_fold": per_fold,
        "total_s": round(time.perf_counter() - started, 1),
    }

def nearest_cosines(queries: np.ndarray, phrasings: np.ndarray, labels: np.ndarray | None = None
                    ) -> np.ndarray:
    """Each query's highest cosine to ``phrasings`` (unit rows); with ``labels``, the queries
    are the phrasings themselves and only *other* phrasings of the same entry count."""
    best = np.full(len(queries), -1.0, dtype=np.float32)
    for start in range(0, len(queries), 1024):
        sims = queries[start : start + 1024] @ phrasings.T
        if labels is not None:
            rows = np.arange(start, start + len(sims))
            sims[np.arange(len(sims)), rows] = -1.0
            sims = np.where(labels[rows][:, None] == labels[None, :], sims, -1.0)
        best[start : start + len(sims)] = sims.max(axis=1)
    return best


def select_outliers(entries: list[KnowledgeEntry], candidates: list[str], percentile: float,
                    encode: Any) -> tuple[list[str], dict[str, Any]]:
    """Candidates farther from every in-scope phrasing than the ``percentile`` rule allows."""
    inscope = [e for e in entries if e.id != OUT_OF_SCOPE]
    phrasings = [q for e in inscope for q in e.questions]
    labels = np.array([i for i, e in enumerate(inscope) for _ in e.questions])
    inside = encode(phrasings)
    own = nearest_cosines(inside, inside, labels)
    limit = float(np.percentile(own[own > -1.0], percentile))
    near = nearest_cosines(encode(candidates), inside)
    kept = [q for q, c in zip(candidates, near, strict=True) if c < limit]
    return kept, {"candidates": len(candidates), "kept": len(kept), "percentile": percentile,
                  "cosine_limit": limit}


def write_faq(entries: list[KnowledgeEntry], outliers: list[str], path: Path) -> int:
    """The knowledge with ``outliers`` appended to its ``out_of_scope`` entry, as JSON."""
    out = with_out_of_scope(entries, outliers)
    path.write_text(json.dumps([{"id": e.id, "questions": list(e.questions), "answer": e.answer}
                                for e in out]), encoding="utf-8")
    return next(len(e.questions) for e in out if e.id == OUT_OF_SCOPE)


def prepare(faq: Path, trec: Path, out: Path, percentile: float) -> dict[str, Any]:
    """Write ``outliers_faq.json`` and ``outliers.json`` (what was kept and why) under ``out``."""
    from retrieval.embeddings import SentenceEncoder

    entries = load_knowledge(faq)
    kept, summary = select_outliers(entries, read_trec(trec), percentile, SentenceEncoder().encode)
    out.mkdir(parents=True, exist_ok=True)
    summary["out_of_scope_phrasings"] = write_faq(entries, kept, out / "outliers_faq.json")
    (out / "outliers.json").write_text(json.dumps({**summary, "questions": kept}, indent=1))
    return summary


def nearness(faq: Path, outliers: Path, cases: Path) -> dict[str, Any]:
    """How like the outliers each split's out-of-scope questions are (diagnosis, never tuning).

    For the knowledge's own ``out_of_scope`` phrasings and a case file's out-of-scope cases: the
    mean nearest in-scope and nearest outlier cosine, and the share nearer an outlier.
    """
    from retrieval.embeddings import SentenceEncoder

    encode = SentenceEncoder().encode
    entries = load_knowledge(faq)
    inside = encode([q for e in entries if e.id != OUT_OF_SCOPE for q in e.questions])
    aux = encode(json.loads(outliers.read_text())["questions"])
    splits = {"knowledge out_of_scope": [q for e in entries if e.id == OUT_OF_SCOPE
                                         for q in e.questions],
              "cases out of scope": [c.text for c in load_cases(cases) if c.expected is None]}
    out: dict[str, Any] = {}
    for name, texts in splits.items():
        queries = encode(texts)
        near_in, near_aux = nearest_cosines(queries, inside), nearest_cosines(queries, aux)
        out[name] = {"n": len(texts), "nearest_in_scope": round(float(near_in.mean()), 3),
                     "nearest_outlier": round(float(near_aux.mean()), 3),
                     "share_nearer_outlier": round(float((near_aux > near_in).mean()), 3)}
    return out


def main() -> None:
    """``prepare``, ``cv`` or ``nearness``; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="TREC questions -> filtered outliers + the knowledge with them")
    p.add_argument("--faq", type=Path, required=True)
    p.add_argument("--trec", type=Path, required=True, help="TREC train_5500.label")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--percentile", type=float, default=1.0)
    c = sub.add_parser("cv", help="k-fold CV on the knowledge; outliers join training folds only")
    c.add_argument("--faq", type=Path, required=True, help="the knowledge *without* the outliers")
    c.add_argument("--outliers", type=Path, help="outliers.json from prepare; omit for the control")
    c.add_argument("--folds", type=int, default=5)
    c.add_argument("--threads", type=int, default=2)
    n = sub.add_parser("nearness", help="how like the outliers each split's out-of-scope text is")
    n.add_argument("--faq", type=Path, required=True)
    n.add_argument("--outliers", type=Path, required=True)
    n.add_argument("--cases", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "nearness":
        print(json.dumps(nearness(args.faq, args.outliers, args.cases), indent=1))
        return
    if args.command == "prepare":
        print(json.dumps(prepare(args.faq, args.trec, args.out, args.percentile)))
        return
    extra = json.loads(args.outliers.read_text())["questions"] if args.outliers else []
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="router-outliers-cv-") as work:
        result = cross_validate_with_outliers(load_knowledge(args.faq), extra, folds=args.folds,
                                              work_dir=Path(work), threads=args.threads, progress=False)
    print(json.dumps({"outliers": len(extra), **result, "load_before": list(load),
                      "load_after": list(os.getloadavg())}))


if __name__ == "__main__":
    main()
