"""The copy bias: a started span of the context is finished as written, on both GPT-2 paths."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.generation.copying import copy_targets
from bot.generation.fast import OnnxGpt2Generator
from bot.generation.generator import Gpt2Generator
from bot.generation.service import Generation
from core.settings import Settings
from core.shop import load_products
from monitoring.flags import grounding

END, SEP = 0, 9
BOUNDARIES = frozenset({SEP})


def test_the_longest_matching_suffix_decides_what_comes_next() -> None:
    context = [5, 6, 7, SEP, 3, 6, 8, 1]
    assert copy_targets(context, [], boundaries=BOUNDARIES, end_id=END) == set()
    assert copy_targets(context, [2], boundaries=BOUNDARIES, end_id=END) == set()  # not in context
    assert copy_targets(context, [6], boundaries=BOUNDARIES, end_id=END) == {7, 8}  # a tie
    assert copy_targets(context, [3, 6], boundaries=BOUNDARIES, end_id=END) == {8}
    assert copy_targets(context, [4, 5, 6], boundaries=BOUNDARIES, end_id=END) == {7}


def test_a_span_that_ends_at_a_passage_boundary_ends_the_answer() -> None:
    context = [5, 6, 7, SEP, 3, 7, 8]
    assert copy_targets(context, [6, 7], boundaries=BOUNDARIES, end_id=END) == {END}
    # Where the span also goes on elsewhere, both stay open to the model.
    assert copy_targets(context, [7], boundaries=BOUNDARIES, end_id=END) == {END, 8}


@pytest.mark.parametrize("backend", ["torch", "onnx-int8"])
def test_with_the_bias_the_draft_is_copied_from_the_context(built_var: Path, backend: str) -> None:
    settings = Settings(var_dir=built_var)
    product = next(p for p in load_products(settings.shop_dir) if "shipping" in p.fact_sentences())
    passages = (product.fact_sentences()["shipping"], product.evidence())
    generator = (Gpt2Generator(settings.generator_dir) if backend == "torch"
                 else OnnxGpt2Generator(settings.generator_dir, built_var / "generator-fast"))
    question = f"where has the {product.name.lower()} been delivered?"
    free = generator.run(question, passages, max_time_s=30)
    copied = generator.run(question, passages, max_time_s=30, copy_bias=50.0)
    # The tests' GPT-2 trained for seconds: on its own it strays; held to the context it copies.
    assert grounding(copied.text, passages) == 1.0
    assert grounding(copied.text, passages) > grounding(free.text, passages)


def test_the_copy_bias_bench_counts_what_the_verifier_keeps(built_var: Path) -> None:
    from bot.training.generator_gate import Probe
    from tests.bench_script import load_bench_script

    bench = load_bench_script("copy_bias")
    settings = Settings(var_dir=built_var)
    products = [p for p in load_products(settings.shop_dir) if "price" in p.fact_sentences()][:3]
    probes = [Probe(p, "price", f"what would the {p.name.lower()} cost?") for p in products]

    class Copies:
        """Stands in for a GPT-2 that words every fact exactly (and shows what it was given)."""

        version = "copies"

        def warm_up(self) -> None:
            pass

        def run(self, question: str, passages: Sequence[str], *, max_time_s: float,
                copy_bias: float = 0.0) -> Generation:
            text = passages[0] if copy_bias > 0 else "We deliver to the world."
            return Generation(text, 1, 1, 1.0, False)

    assert bench.kept(Copies(), probes, 10.0) == 3
    assert bench.kept(Copies(), probes, 0.0) == 0
