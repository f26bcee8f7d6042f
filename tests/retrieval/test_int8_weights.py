"""Int8 weights stored unsigned where the CPU's int8 kernel saturates: the very same products."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from retrieval.int8_weights import saturates, unsigned_weights


def integer_matmul(weight: np.ndarray) -> object:
    """``y = (a - 128) @ weight`` in int32: uint8 activations, a constant int8 weight."""
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "w", "a_zero"], ["y"])], "integer",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, ["rows", weight.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, ["rows", weight.shape[1]])],
        [numpy_helper.from_array(weight, "w"),
         numpy_helper.from_array(np.array(128, dtype=np.uint8), "a_zero")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_unsigned_weights_give_exactly_the_integer_products() -> None:
    # Full-range weights and activations far from 128: what overflows a saturating kernel.
    rng = np.random.default_rng(0)
    weight = rng.integers(-127, 128, size=(64, 32)).astype(np.int8)
    weight[0, :] = 127
    a = rng.choice(np.array([1, 2, 254, 255], dtype=np.uint8), size=(8, 64))
    exact = (a.astype(np.int64) - 128) @ weight.astype(np.int64)
    model = integer_matmul(weight)
    assert unsigned_weights(model) == 1
    assert {i.data_type for i in model.graph.initializer} == {TensorProto.UINT8}, "no int8 left"
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert np.array_equal(session.run(None, {"a": a})[0], exact)


def test_only_x86_without_vnni_saturates() -> None:
    import platform

    if platform.machine().lower() in ("x86_64", "amd64"):
        assert saturates("flags : fpu sse avx avx2 fma")
        assert not saturates("flags : fpu avx2 avx512f avx512_vnni")
        assert not saturates("flags : fpu avx2 avx_vnni")
    else:
        assert not saturates("flags : anything")
