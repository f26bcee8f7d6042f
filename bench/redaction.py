"""Redaction quality and cost on the labelled shop chat (tests/fixtures/pii/messages.jsonl).

For each kind: precision (a found span that overlaps a labelled one of any kind, so "[PHONE]" for
a card number still protects it) and recall (a labelled span at least 90% covered by found spans),
overall too, and how many product names, brands and places (``keep`` spans) were damaged. Then
the added latency per message (median and p95 ms), NER on and regex-only. Rules were tuned on the
``dev`` half; the ``test`` half is reported.

    python bench/redaction.py                 # test half
    python bench/redaction.py --split dev
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Not bench/ itself first: bench/catalogue.py would shadow the `catalogue` package spaCy imports.
sys.path[0] = str(ROOT)

from monitoring.names import NameFinder, ProductWords  # noqa: E402
from monitoring.ner import SpacyTagger  # noqa: E402
from monitoring.redact import _known_clean, detect, normalise  # noqa: E402

MESSAGES = ROOT / "tests/fixtures/pii/messages.jsonl"


def load(split: str) -> list[dict]:
    rows = [json.loads(line) for line in MESSAGES.read_text(encoding="utf-8").splitlines() if line]
    return [r for r in rows if split == "all" or r["split"] == split]


def products(shop_dir: Path) -> ProductWords:
    path = shop_dir / "products.json"
    if not path.exists():
        print(f"no {path}: product names unknown (run `shopbot prepare`)", file=sys.stderr)
        return ProductWords()
    return ProductWords.of(p["name"] for p in json.loads(path.read_text(encoding="utf-8")))


def score(rows: list[dict], finder: NameFinder, verbose: bool) -> dict[str, Counter]:
    tp_p: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    tp_r: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    damaged = 0
    for row in rows:
        text = row["text"]
        assert normalise(text) == text, "the fixture is already normalised"
        found = [(s.start, s.end, s.kind) for s in detect(text, finder)]
        for a, b, kind in found:
            if any(a < e and s < b for s, e, _ in row["spans"]):
                tp_p[kind] += 1
            else:
                fp[kind] += 1
                if verbose:
                    print(f"FP {kind}: {text[a:b]!r} in {text!r}")
        for s, e, kind in row["spans"]:
            covered = sum(1 for i in range(s, e) if any(a <= i < b for a, b, _ in found))
            if covered >= 0.9 * (e - s):
                tp_r[kind] += 1
            else:
                fn[kind] += 1
                if verbose:
                    print(f"FN {kind}: {text[s:e]!r} in {text!r}")
        for s, e in row["keep"]:
            if any(a < e and s < b for a, b, _ in found):
                damaged += 1
                if verbose:
                    print(f"DAMAGED: {text[s:e]!r} in {text!r}")
    return {"tp_p": tp_p, "fp": fp, "tp_r": tp_r, "fn": fn, "damaged": Counter(n=damaged)}


def table(result: dict[str, Counter], rows: list[dict]) -> list[str]:
    kinds = sorted(set(result["tp_r"]) | set(result["fn"]) | set(result["tp_p"]) | set(result["fp"]))
    lines = ["| kind | labelled | precision | recall |", "| --- | --- | --- | --- |"]

    def ratio(a: int, b: int) -> str:
        return f"{a / b:.3f}" if b else "-"

    for kind in kinds:
        tp_p, fp = result["tp_p"][kind], result["fp"][kind]
        tp_r, fn = result["tp_r"][kind], result["fn"][kind]
        lines.append(f"| {kind} | {tp_r + fn} | {ratio(tp_p, tp_p + fp)} | {ratio(tp_r, tp_r + fn)} |")
    tp_p, fp = sum(result["tp_p"].values()), sum(result["fp"].values())
    tp_r, fn = sum(result["tp_r"].values()), sum(result["fn"].values())
    lines.append(f"| **all** | {tp_r + fn} | {ratio(tp_p, tp_p + fp)} | {ratio(tp_r, tp_r + fn)} |")
    keeps = sum(len(r["keep"]) for r in rows)
    lines.append(f"\nProduct names, brands and places damaged: {result['damaged']['n']} of {keeps}.")
    return lines


def latency(rows: list[dict], finder: NameFinder, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        for row in rows:
            _known_clean.clear()  # measure the work, not the cache of known-clean texts
            t = time.perf_counter()
            detect(row["text"], finder)
            times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "test", "all"), default="test")
    parser.add_argument("--shop-dir", type=Path, default=ROOT / "var/shop")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("-v", "--verbose", action="store_true", help="print every miss and false alarm")
    args = parser.parse_args()
    rows = load(args.split)
    vocabulary = products(args.shop_dir)
    tagger = SpacyTagger()
    t = time.perf_counter()
    tagger.warm_up()
    load_s = time.perf_counter() - t
    with_ner, regex_only = NameFinder(tagger, vocabulary), NameFinder(None, vocabulary)
    print(f"## Redaction on the {args.split} half ({len(rows)} messages), {date.today().isoformat()}\n")
    print(f"`python bench/redaction.py --split {args.split}`; load average before: "
          f"{Path('/proc/loadavg').read_text().split()[:3]}; NER model loaded in {load_s:.1f} s\n")
    for label, finder in (("NER on", with_ner), ("regex only (cue words, no model)", regex_only)):
        print(f"### {label}\n")
        print("\n".join(table(score(rows, finder, args.verbose and finder is with_ner), rows)))
        p50, p95 = latency(rows, finder, args.repeat)
        print(f"\nAdded latency per message: median {p50:.2f} ms, p95 {p95:.2f} ms\n")
    print(f"load average after: {Path('/proc/loadavg').read_text().split()[:3]}")


if __name__ == "__main__":
    main()
