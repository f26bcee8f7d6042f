"""The int8, KV-cached ONNX GPT-2 path answers as the PyTorch reference does, on the same checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.generation.backends import gpt2_generator
from bot.generation.fast import EXPORT_FORMAT, INT8_FILE, META_FILE, OnnxGpt2Generator
from bot.generation.generator import Gpt2Generator
from bot.generation.prompt import build_prompt
from core.errors import GenerationError, NotReady
from core.settings import Settings
from retrieval.onnx_session import portable_int8

QUESTIONS = [
    ("how much is the cookie jar?", ["COOKIE JAR: £4.25, in stock, ships to 12 countries"]),
    ("can I return an item?", ["Returns: unused items within 30 days for a full refund."]),
    ("is the lunch bag big?", ["LUNCH BAG RED RETROSPOT: £1.65, 10 per pack"]),
    ("do you ship to Germany?", ["We ship to 37 countries including Germany and France."]),
]


@pytest.fixture(scope="module")
def dirs(built_var: Path) -> tuple[Path, Path]:
    settings = Settings(var_dir=built_var)
    return settings.generator_dir, built_var / "generator-fast"


def test_the_int8_step_picks_what_pytorch_would_up_to_its_rounding(dirs: tuple[Path, Path]) -> None:
    # The tests' GPT-2 trains for seconds, so its logits are flat and near-ties are everywhere:
    # comparing whole greedy answers would test luck. Each decoding step is compared instead,
    # teacher-forced on the int8 path's own tokens: its logits stay within a few percent of the
    # float ones, and every token it picks is PyTorch's pick or within that rounding of it.
    import onnxruntime as ort
    import torch
    from transformers import AutoTokenizer, GPT2LMHeadModel

    model, cache = dirs
    fast = OnnxGpt2Generator(model, cache)
    fast.warm_up()
    meta = json.loads((fast.exported_dir() / META_FILE).read_text())
    session = ort.InferenceSession(portable_int8(fast.exported_dir() / INT8_FILE),
                                   providers=["CPUExecutionProvider"])
    hf = GPT2LMHeadModel.from_pretrained(model).eval()
    tokenizer = AutoTokenizer.from_pretrained(model)
    empty = np.zeros((1, meta["heads"], 0, meta["head_dim"]), dtype=np.float32)
    past = [f"past_{j}" for j in range(2 * meta["layers"])]
    for question, passages in QUESTIONS:
        ids = tokenizer(build_prompt(question, passages), add_special_tokens=False)["input_ids"]
        out = session.run(None, {"input_ids": np.array([ids]), **dict.fromkeys(past, empty)})
        for _ in range(15):
            int8 = out[0][0]
            with torch.inference_mode():
                exact = hf(torch.tensor([ids])).logits[0, -1].numpy()
            error = float(np.abs(int8 - exact).max())
            assert error <= 0.1 * float(exact.std())
            chosen = int(int8.argmax())
            assert exact.max() - exact[chosen] <= 2 * error
            ids.append(chosen)
            out = session.run(None, {"input_ids": np.array([[chosen]]),
                                     **dict(zip(past, out[1:], strict=True))})


def test_both_paths_answer_in_the_same_shape(dirs: tuple[Path, Path]) -> None:
    model, cache = dirs
    reference = Gpt2Generator(model, max_new_tokens=30)
    fast = OnnxGpt2Generator(model, cache, max_new_tokens=30)
    for question, passages in QUESTIONS:
        a = reference.run(question, passages, max_time_s=30)
        b = fast.run(question, passages, max_time_s=30)
        assert b.text and "\n" not in b.text and 0 < b.new_tokens <= 30
        assert b.prompt_tokens == a.prompt_tokens


def test_the_export_is_made_once_per_checkpoint(dirs: tuple[Path, Path]) -> None:
    model, cache = dirs
    fast = OnnxGpt2Generator(model, cache)
    fast.warm_up()
    exported = fast.exported_dir() / INT8_FILE
    before = exported.stat().st_mtime_ns
    OnnxGpt2Generator(model, cache).warm_up()
    assert exported.stat().st_mtime_ns == before
    assert fast.version.endswith("+onnx-int8")
    assert fast.version.split("+")[0] == Gpt2Generator(model).version


def test_an_export_of_an_older_format_is_redone(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    model, cache = dirs
    fresh = OnnxGpt2Generator(model, tmp_path / "cache")
    fresh.warm_up()
    meta_file = fresh.exported_dir() / META_FILE
    meta = json.loads(meta_file.read_text())
    assert meta["format"] == EXPORT_FORMAT
    meta_file.write_text(json.dumps({k: v for k, v in meta.items() if k != "format"}))  # format 1
    before = (fresh.exported_dir() / INT8_FILE).stat().st_mtime_ns
    OnnxGpt2Generator(model, tmp_path / "cache").warm_up()
    assert json.loads(meta_file.read_text())["format"] == EXPORT_FORMAT
    assert (fresh.exported_dir() / INT8_FILE).stat().st_mtime_ns != before


def test_decode_speed_decodes_exactly_the_tokens_asked(dirs: tuple[Path, Path]) -> None:
    fast = OnnxGpt2Generator(*dirs)
    prefill_ms, per_token_ms = fast.decode_speed([1, 2, 3, 4, 5], 8)
    assert prefill_ms > 0 and per_token_ms > 0


def test_a_spent_budget_stops_generation(dirs: tuple[Path, Path]) -> None:
    fast = OnnxGpt2Generator(*dirs, max_new_tokens=60)
    fast.warm_up()
    try:
        out = fast.run("how much is the cookie jar?", QUESTIONS[0][1], max_time_s=0.0)
    except GenerationError:
        return  # nothing at all within the budget is an error, as on the PyTorch path
    assert out.new_tokens <= 1 and out.timed_out


def test_a_missing_checkpoint_is_not_ready(tmp_path: Path) -> None:
    with pytest.raises(NotReady):
        OnnxGpt2Generator(tmp_path / "none", tmp_path / "cache").warm_up()


def test_the_backend_setting_picks_the_path(dirs: tuple[Path, Path]) -> None:
    model, cache = dirs
    assert isinstance(gpt2_generator("onnx-int8", model, cache, max_new_tokens=10, threads=1),
                      OnnxGpt2Generator)
    assert isinstance(gpt2_generator("torch", model, cache, max_new_tokens=10, threads=1), Gpt2Generator)
    with pytest.raises(ValueError):
        gpt2_generator("vllm", model, cache, max_new_tokens=10, threads=1)
