"""How many GPT-2 drafts of product answers the verifier keeps, per copy bias.

    python bench/copy_bias.py --model var/generator --biases 0,6,10,20

Every answerable question of ``--cases`` (the development set by default; never tune on the
test set) is worded by the checkpoint exactly as ``answer_about`` asks it: the fact sentence
that answers, then the product's evidence, decoded with the given copy bias
(``bot.generation.copying``), and checked by the same ``verified``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.generation.backends import gpt2_generator  # noqa: E402
from bot.generation.product_answer import known_answer, verified  # noqa: E402
from bot.generation.service import Generator  # noqa: E402
from bot.training.generator_gate import Probe, load_probes  # noqa: E402
from core.errors import GenerationError  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.shop import load_products  # noqa: E402


def kept(generator: Generator, probes: list[Probe], bias: float) -> int:
    """Drafts the verifier keeps among ``probes`` at copy bias ``bias``."""
    count = 0
    for p in probes:
        known, evidence = known_answer(p.product, p.aspect), p.product.evidence()
        try:
            draft = generator.run(p.text, (known, evidence), max_time_s=10.0, copy_bias=bias).text
        except GenerationError:  # an empty answer: the bot falls back to the fact sentence
            continue
        count += verified(draft, known, evidence, p.product)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a GPT-2 checkpoint directory")
    parser.add_argument("--backend", default="onnx-int8", choices=["onnx-int8", "torch"])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/copy-bias-onnx"), help="ONNX exports")
    parser.add_argument("--biases", default="0,6,10,20")
    parser.add_argument("--cases", type=Path, default=Settings().gate_product_questions)
    parser.add_argument("--limit", type=int, default=1000, help="first N answerable questions")
    args = parser.parse_args()
    products = {p.stock_code: p for p in load_products(Settings().shop_dir)}
    probes = load_probes(args.cases, products, args.limit)
    generator = gpt2_generator(args.backend, args.model, args.cache / args.model.name, max_new_tokens=60)
    generator.warm_up()
    rows = {b: kept(generator, probes, float(b)) for b in args.biases.split(",")}
    print(json.dumps({"model": str(args.model), "backend": args.backend, "questions": len(probes),
                      "kept": rows, "load_avg": os.getloadavg()}))


if __name__ == "__main__":
    main()
