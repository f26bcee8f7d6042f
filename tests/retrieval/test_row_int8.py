"""Per-row int8: a row's output is its own, whatever rows share its run, and close to fp32's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper, save

from retrieval.onnx_session import open_session
from retrieval.row_int8 import quantize_rows


def linear_graph(path: Path, weight: np.ndarray) -> Path:
    """``y = relu(x @ W1) @ W2``: two MatMuls by constant weights, the second on its own input."""
    w2 = np.linspace(-1, 1, weight.shape[1] * 3, dtype=np.float32).reshape(weight.shape[1], 3)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("MatMul", ["r", "w2"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "tokens", weight.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "tokens", 3])],
        [numpy_helper.from_array(weight, "w1"), numpy_helper.from_array(w2, "w2")],
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.fixture
def graphs(tmp_path: Path) -> tuple[ort.InferenceSession, ort.InferenceSession]:
    weight = np.random.default_rng(0).normal(size=(16, 8)).astype(np.float32)
    fp32 = linear_graph(tmp_path / "fp32.onnx", weight)
    assert quantize_rows(fp32, tmp_path / "int8.onnx") == 2
    # The int8 graph as the product opens it: unsigned weights where the CPU's kernel saturates.
    return (ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]),
            open_session(tmp_path / "int8.onnx", threads=1))


def test_a_row_gives_the_same_output_beside_a_row_a_thousand_times_larger(
        graphs: tuple[ort.InferenceSession, ort.InferenceSession]) -> None:
    # One scale per run (ONNX Runtime's dynamic quantisation) would crush the small row to a few
    # levels next to the large one; per-row scales leave it exactly as it is alone.
    fp32, int8 = graphs
    rng = np.random.default_rng(1)
    small = rng.normal(size=(1, 1, 16)).astype(np.float32)
    batch = np.concatenate([small, 1000 * rng.normal(size=(1, 1, 16)).astype(np.float32)])
    alone = int8.run(None, {"x": small})[0]
    beside = int8.run(None, {"x": batch})[0][:1]
    assert np.array_equal(alone, beside)
    reference = fp32.run(None, {"x": batch})[0]
    served = int8.run(None, {"x": batch})[0]
    largest = np.abs(reference).max(axis=-1, keepdims=True)
    assert np.allclose(served, reference, rtol=0.05, atol=0.05 * largest)


def test_an_all_zero_row_gives_zeros(graphs: tuple[ort.InferenceSession, ort.InferenceSession]) -> None:
    _, int8 = graphs
    out = int8.run(None, {"x": np.zeros((2, 3, 16), dtype=np.float32)})[0]
    assert out.shape == (2, 3, 3) and np.array_equal(out, np.zeros_like(out))


def test_a_row_whose_largest_magnitude_is_negative_is_not_clipped(
        graphs: tuple[ort.InferenceSession, ort.InferenceSession]) -> None:
    # The range is the larger of the maximum and minus the minimum: a scale from the maximum
    # alone would saturate the -40 to a tenth of its size.
    fp32, int8 = graphs
    x = np.full((1, 1, 16), 0.5, dtype=np.float32)
    x[0, 0, 3] = -40.0
    reference = fp32.run(None, {"x": x})[0]
    served = int8.run(None, {"x": x})[0]
    assert np.allclose(served, reference, rtol=0.05, atol=0.05 * np.abs(reference).max())
