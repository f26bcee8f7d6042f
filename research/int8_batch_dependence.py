"""Does a served router decide a message the same alone and batched with other shoppers' messages?

ONNX Runtime's dynamic int8 quantisation scales each MatMul's activations once per run, over
the whole batch, so a message's logits can depend on the messages (and padding) beside it. The
accurate profile's mpnet graph runs one text per run for that reason (``retrieval/mpnet.py``);
this measures the MiniLM turn encoder both profiles serve, on the graph given (int8 as served,
fp32 as the control): every text alone, then ``--trials`` random batchings of ``--batch``, and
counts the decisions (routed label, or decline) that differ from the text's own alone.

    .venv/bin/python research/int8_batch_dependence.py --router var/router --graph int8

Since 2026-12-05 the served int8 graph scales activations per row (``retrieval/row_int8.py``);
``--graph dynamic`` rebuilds the format served before, ONNX Runtime's ``quantize_dynamic``
(per-channel int8 weights, one activation scale per MatMul per run), from the router's fp32
graph, to reproduce the measurement that led to the change.

``--graph static`` measures another candidate fix (not adopted): the same graph quantised
with *static* activation scales (ONNX Runtime ``quantize_static``, QDQ, per-channel int8
weights, activation ranges calibrated on the router's own phrasings one at a time), with the feed-forward
down-projections left in fp32 as the mpnet export leaves them (``--quantise-down`` quantises
them too). Fixed scales make each row's arithmetic independent of the rows beside it. Every
graph also reports how many decisions alone differ from the fp32 graph's alone, and its
throughput on batches of ``--batch`` texts on one thread (an indication: one short run).

The texts are by default every shopper message of the demo shop's conversation sets
(``data/eval/conversations_*.jsonl``), or the ``text`` of each line of ``--cases``.
"""

from __future__ import annotations

import argparse
import glob
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retrieval.router import in_scope_scores, load_saved, router_outputs  # noqa: E402
from retrieval.turn_encoder import ENCODER_DIR, FP32_FILE, INT8_FILE, ONNX_DIR, OnnxTurnEncoder  # noqa: E402


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
            trials: int, reference: Sequence[str | None] | None = None) -> dict[str, float]:
    """Decisions and logits alone against each batching: flips, and the largest logit change;
    with ``reference`` (other decisions alone, e.g. fp32's), how many alone differ from it."""
    saved = load_saved(router)
    alone_logits = np.concatenate([encoder.raw([t])[0] for t in texts])
    alone = decisions_of(saved, alone_logits)
    changed, largest = 0, 0.0
    for batches in batchings(len(texts), size, trials):
        batched_logits = np.zeros_like(alone_logits)
        for rows in batches:
            batched_logits[rows] = encoder.raw([texts[i] for i in rows])[0]
        changed += flips(alone, decisions_of(saved, batched_logits))
        largest = max(largest, float(np.abs(batched_logits - alone_logits).max()))
    result = {"texts": len(texts), "decisions": len(texts) * trials, "flips": changed,
              "flip_share": changed / (len(texts) * trials), "max_logit_change": largest}
    if reference is not None:
        result["alone_differ_from_fp32"] = flips(alone, reference)
    return result


def decisions_of(saved: Any, logits: np.ndarray) -> list[str | None]:
    """The decisions (label, or None for a decline) of some rows' logits under a saved router, as
    the served encoder decides them (``OnnxTurnEncoder.run``): from one pass's logits."""
    probs, score, columns = in_scope_scores(logits, saved.labels)
    return [o.label for o in router_outputs(probs, score, columns, saved.labels, saved.threshold)]


def down_projections(graph: Path) -> list[str]:
    """The feed-forward down-projection MatMuls of an exported graph (``.../output/dense/MatMul``)."""
    import onnx

    from retrieval.mpnet import FP32_NODES

    return [n.name for n in onnx.load(str(graph)).graph.node
            if n.op_type == "MatMul" and FP32_NODES in n.name and "attention" not in n.name]


def static_router(router: Path, out: Path, phrasings: Sequence[str], quantise_down: bool = False) -> Path:
    """A copy of ``router`` whose int8 graph has static activation scales calibrated on ``phrasings``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from retrieval.turn_encoder import _Tokens

    shutil.copytree(router, out)
    saved = load_saved(router)
    tokens = _Tokens(router / ENCODER_DIR, int(saved.config["max_seq_length"]))

    class Phrasings(CalibrationDataReader):  # one phrasing per run, as a shopper's message
        def __init__(self) -> None:
            self.texts = iter(phrasings)

        def get_next(self) -> dict[str, np.ndarray] | None:
            text = next(self.texts, None)
            if text is None:
                return None
            ids, mask = tokens([text])
            return {"input_ids": ids, "attention_mask": mask}

    fp32 = router / ONNX_DIR / FP32_FILE
    quantize_static(str(fp32), str(out / ONNX_DIR / INT8_FILE), Phrasings(), quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=["MatMul"], per_channel=True, weight_type=QuantType.QInt8,
                    activation_type=QuantType.QUInt8, calibrate_method=CalibrationMethod.MinMax,
                    nodes_to_exclude=[] if quantise_down else down_projections(fp32))
    return out


def dynamic_router(router: Path, out: Path) -> Path:
    """A copy of ``router`` whose int8 graph is ONNX Runtime's dynamic quantisation of its fp32 one."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    shutil.copytree(router, out)
    quantize_dynamic(str(router / ONNX_DIR / FP32_FILE), str(out / ONNX_DIR / INT8_FILE), per_channel=True,
                     op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8)
    return out


def throughput(encoder: OnnxTurnEncoder, texts: Sequence[str], size: int, batches: int = 30) -> float:
    """Texts a second on batches of ``size`` (one short run: an indication, not a benchmark)."""
    encoder.raw(list(texts[:size]))
    started = time.perf_counter()
    for b in range(batches):
        start = (b * size) % max(1, len(texts) - size)
        encoder.raw(list(texts[start : start + size]))
    return size * batches / (time.perf_counter() - started)


def main() -> None:
    """Run the measurement and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--router", type=Path, default=ROOT / "var" / "router")
    parser.add_argument("--graph", choices=("int8", "fp32", "static", "dynamic"), default="int8",
                        help="int8: the served graph; dynamic: the format served before 2026-12-05")
    parser.add_argument("--quantise-down", action="store_true",
                        help="static: quantise the feed-forward down-projections too")
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
    with tempfile.TemporaryDirectory() as tmp:
        router = args.router
        if args.graph == "static":
            from core.settings import Settings
            from retrieval.knowledge_base import load_entries

            settings = Settings()
            phrasings = sorted({q for e in load_entries(settings.faq_path, settings.intents_path)
                                for q in e.questions})
            router = static_router(args.router, Path(tmp) / "router", phrasings, args.quantise_down)
        elif args.graph == "dynamic":
            router = dynamic_router(args.router, Path(tmp) / "router")
        fp32 = OnnxTurnEncoder(args.router, int8=False)
        reference = decisions_of(load_saved(args.router), np.concatenate([fp32.raw([t])[0] for t in texts]))
        encoder = OnnxTurnEncoder(router, int8=args.graph != "fp32")
        result = measure(encoder, router, texts, args.batch, args.trials, reference)
        result["texts_per_s"] = throughput(encoder, texts, args.batch)
    print(json.dumps({"router": str(args.router), "graph": args.graph, "batch": args.batch, **result}))


if __name__ == "__main__":
    main()
