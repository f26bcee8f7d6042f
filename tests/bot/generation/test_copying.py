"""The copy bias: a started span of the context is finished as written, on both GPT-2 paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.generation.copying import copy_targets
from bot.generation.fast import OnnxGpt2Generator
from bot.generation.generator import Gpt2Generator
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
