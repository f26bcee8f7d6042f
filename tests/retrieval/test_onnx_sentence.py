"""The ONNX sentence encoder gives sentence-transformers' vectors (fp32) or very nearly (int8)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.settings import Settings
from retrieval.embeddings import (
    ONNX_FP32,
    ONNX_INT8,
    ONNX_META,
    SentenceEncoder,
    sentence_encoder,
    sentence_export_is_current,
)

TEXTS = ["how long does delivery take?", "JUMBO BAG RED RETROSPOT", "a much longer sentence about "
         "returning a broken teapot that arrived in pieces after a week", "£5", "x"]


@pytest.mark.parametrize(("backend", "min_cosine", "min_alone"),
                         [("onnx-fp32", 0.9999, 0.9999), ("onnx-int8", 0.97, 0.99999)])
def test_onnx_vectors_match_sentence_transformers(built_var: Path, backend: str, min_cosine: float,
                                                  min_alone: float) -> None:
    reference = SentenceEncoder().encode(TEXTS)
    served = sentence_encoder(backend, Settings(var_dir=built_var).encoder_dir).encode(TEXTS)
    assert served.shape == reference.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(served, axis=1), 1.0, atol=1e-3)
    assert float(np.min(np.sum(served * reference, axis=1))) >= min_cosine
    # Padding and the texts beside it change nothing: the int8 graph scales activations per row.
    alone = np.stack([sentence_encoder(backend, Settings(var_dir=built_var).encoder_dir).encode([t])[0]
                      for t in TEXTS])
    assert float(np.min(np.sum(served * alone, axis=1))) >= min_alone


def test_no_texts_give_an_empty_matrix(built_var: Path) -> None:
    encoder = sentence_encoder("onnx-int8", Settings(var_dir=built_var).encoder_dir)
    assert encoder.encode([]).shape == (0, 384)


def test_an_export_of_an_earlier_int8_format_is_made_again(built_var: Path, tmp_path: Path) -> None:
    copy = tmp_path / "encoder"
    source = Settings(var_dir=built_var).encoder_dir
    copy.mkdir()
    for name in (ONNX_FP32, ONNX_INT8, ONNX_META, "tokenizer.json"):
        (copy / name).symlink_to(source / name)
    assert sentence_export_is_current(copy)
    (copy / ONNX_META).unlink()  # an export made before the per-row format has none
    assert not sentence_export_is_current(copy)
    (copy / ONNX_META).write_text('{"int8": "int8-per-row"}\n', encoding="utf-8")  # format 1
    assert not sentence_export_is_current(copy)
    # The served version names the format, so an index built on another one is rebuilt.
    assert sentence_encoder("onnx-int8", copy).version == "all-MiniLM-L6-v2@onnx-int8-per-row-2"
