"""Does a served router decide a message the same alone and batched with other shoppers' messages?

ONNX Runtime's dynamic int8 quantisation scales each MatMul's activations once per run, over
the whole batch, so a message's logits can depend on the messages (and padding) beside it. The
accurate profile's mpnet graph runs one text per run for that reason (``retrieval/mpnet.py``);
this measures the MiniLM turn encoder both profiles serve, on the graph given (int8 as served,
fp32 as the control): every text alone, then ``--trials`` random batchings of ``--batch``, and
counts the decisions (routed label, or decline) that differ from the text's own alone.

    .venv/bin/python research/int8_batch_dependence.py --router var/router --graph int8

The texts are by default every shopper message of the demo shop's conversation sets
(``data/eval/conversations_*.jsonl``), or the ``text`` of each line of ``--cases``.
"""

from __future__ import annotations

import argparse
import glob
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retrieval.router import in_scope_scores, load_saved, router_outputs  # noqa: E402
from retrieval.turn_encoder import OnnxTurnEncoder  # noqa: E402


def conversation_texts(root: Path = ROOT) -> list[str]:
    """Every distinct shopper message of the demo shop's conversation sets, sorted."""
    texts: set[str] = set()
    for name in sorted(glob.glob(str(root / "data" / "eval" / "conversations_*.jsonl"))):
        for line in Path(name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.update(turn["say"] for turn in json.loads(line)["turns"])
    return sorted(texts)


def flips(alone: Sequence[str | None], batched: Sequence[str | None]) -> int:
    """How many decisions differ between the two runs (a decline is None)."""
    return sum(1 for a, b in zip(alone, batched, strict=True) if a != b)


def batchings(n: int, size: int, trials: int, seed: int = 0) -> list[list[list[int]]]:
    """``trials`` random orders of ``n`` rows, each cut into batches of ``size``."""
    rng = random.Random(seed)
    out = []
    for _ in range(trials):
        order = list(range(n))
        rng.shuffle(order)
        out.append([order[s : s + size] for s in range(0, n, size)])
    return out


def measure(encoder: OnnxTurnEncoder, router: Path, texts: Sequence[str], size: int,
            trials: int) -> dict[str, float]:
    """Decisions and logits alone against each batching: flips, and the largest logit change."""
    saved = load_saved(router)

    def decided(logits: np.ndarray) -> list[str | None]:
        # As the served encoder decides (``OnnxTurnEncoder.run``), from one pass's logits.
        probs, score, columns = in_scope_scores(logits, saved.labels)
        return [o.label for o in router_outputs(probs, score, columns, saved.labels, saved.threshold)]

    alone_logits = np.concatenate([encoder.raw([t])[0] for t in texts])
    alone = decided(alone_logits)
    changed, largest = 0, 0.0
    for batches in batchings(len(texts), size, trials):
        batched_logits = np.zeros_like(alone_logits)
        for rows in batches:
            batched_logits[rows] = encoder.raw([texts[i] for i in rows])[0]
        changed += flips(alone, decided(batched_logits))
        largest = max(largest, float(np.abs(batched_logits - alone_logits).max()))
    return {"texts": len(texts), "decisions": len(texts) * trials, "flips": changed,
            "flip_share": changed / (len(texts) * trials), "max_logit_change": largest}


def main() -> None:
    """Run the measurement and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--router", type=Path, default=ROOT / "var" / "router")
    parser.add_argument("--graph", choices=("int8", "fp32"), default="int8")
    parser.add_argument("--cases", type=Path,
                        help="JSON lines with a `text` each (default: the conversations)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    if args.cases:
        lines = args.cases.read_text(encoding="utf-8").splitlines()
        texts = [json.loads(line)["text"] for line in lines if line.strip()]
    else:
        texts = conversation_texts()
    encoder = OnnxTurnEncoder(args.router, int8=args.graph == "int8")
    result = measure(encoder, args.router, texts, args.batch, args.trials)
    print(json.dumps({"router": str(args.router), "graph": args.graph, "batch": args.batch, **result}))


if __name__ == "__main__":
    main()
