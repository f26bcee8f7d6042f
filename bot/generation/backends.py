"""The GPT-2 backends a generator version is served on: ONNX Runtime (int8, KV-cached) or PyTorch."""

from __future__ import annotations

from pathlib import Path

from bot.generation.service import Generator


def gpt2_generator(backend: str, model_dir: Path, cache_dir: Path, *, max_new_tokens: int,
                   threads: int = 1) -> Generator:
    """The shop's GPT-2 checkpoint on ONNX Runtime (``onnx-int8``, KV-cached) or on PyTorch (``torch``)."""
    if backend == "onnx-int8":
        from bot.generation.fast import OnnxGpt2Generator

        return OnnxGpt2Generator(model_dir, cache_dir, max_new_tokens=max_new_tokens, threads=threads)
    if backend == "torch":
        # Imported here: PyTorch is loaded only when this backend is chosen.
        from bot.generation.generator import Gpt2Generator

        return Gpt2Generator(model_dir, max_new_tokens=max_new_tokens)
    raise ValueError(f"unknown generation backend {backend!r}: onnx-int8 or torch")
