"""Int8 MatMuls whose activations are scaled per row, so a text's output never depends on its batch.

ONNX Runtime's dynamic quantisation (``quantize_dynamic``) scales each MatMul's activations once
per run, over the whole batch: batched with other shoppers' messages, a message's int8 values,
and so its logits, change (3.8 % of the demo shop's routing decisions flipped, docs/quality.md).
Here every row (one token of one text) gets its own scale, the largest magnitude in that row,
so each row is quantised from its own values alone; the weights keep per-output-channel scales
as before. Integer products are exact, so batched and alone give the same numbers up to the fp32
rounding of the ops around them.

Each distinct MatMul input is quantised once (the query, key and value projections share theirs),
viewed as a matrix of rows: its range is the larger of the row's maximum and minus its minimum
(two reading passes, no temporary tensor), and one per-axis ``QuantizeLinear`` divides, rounds and
shifts each row by its own scale. ONNX Runtime's ``MatMulIntegerToFloat`` (uint8 activations with
zero point 128, int8 weights, per-tensor activation scale 1) multiplies, and the row's scale
multiplies the product after. Format 2 (this one) reads an activation three times and writes only
its uint8 copy; format 1 also wrote two float copies on the way (an ``Abs``, a ``Mul`` by the
inverse scale) and was 15 % slower at batch 64 (docs/quality.md, "Per-row format 2").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

# Written into an export's metadata: an export without it is re-made (`onnx_is_current`).
FORMAT = "int8-per-row-2"
_ZERO_POINT = 128


def quantize_rows(fp32: Path, out: Path) -> int:
    """Write ``fp32`` with every MatMul by a 2-D constant weight in per-row int8; returns how many."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(fp32))
    graph = model.graph
    weights = {i.name: i for i in graph.initializer}
    added: list[Any] = [
        numpy_helper.from_array(np.array(127.0, dtype=np.float32), "rowq_127"),
        # An all-zero row would divide by zero; its products are zero whatever the scale.
        numpy_helper.from_array(np.array(1e-12, dtype=np.float32), "rowq_eps"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "rowq_one"),
        numpy_helper.from_array(np.array(_ZERO_POINT, dtype=np.uint8), "rowq_zp"),
        numpy_helper.from_array(np.array([_ZERO_POINT], dtype=np.uint8), "rowq_zp_row"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "rowq_first"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "rowq_last"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "rowq_axis1"),
    ]
    quantised: dict[str, str] = {}  # MatMul input -> its quantised tensors' prefix
    nodes: list[Any] = []
    count = 0
    for node in graph.node:
        weight = weights.get(node.input[1]) if node.op_type == "MatMul" else None
        if weight is None or len(weight.dims) != 2:
            nodes.append(node)
            continue
        x = node.input[0]
        if x not in quantised:
            p = quantised[x] = f"rowq_x{len(quantised)}"
            added.append(numpy_helper.from_array(np.array([-1, weight.dims[0]], dtype=np.int64), f"{p}_rows"))
            nodes += _quantise_input(helper, x, p)
        p = quantised[x]
        w = numpy_helper.to_array(weight).astype(np.float32)
        w_scale = (np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0).astype(np.float32)
        w_q = np.clip(np.rint(w / w_scale), -127, 127).astype(np.int8)
        name = f"rowq_w{count}"
        added += [numpy_helper.from_array(w_q, f"{name}_q"),
                  numpy_helper.from_array(w_scale, f"{name}_scale"),
                  numpy_helper.from_array(np.array([w.shape[1]], dtype=np.int64), f"{name}_width")]
        nodes += [
            # The weights' zero point is left out: symmetric int8, so the op's default of 0.
            helper.make_node("MatMulIntegerToFloat",
                             [f"{p}_q", f"{name}_q", "rowq_one", f"{name}_scale", "rowq_zp"],
                             [f"{name}_product"], domain="com.microsoft"),
            helper.make_node("Mul", [f"{name}_product", f"{p}_column"], [f"{name}_scaled"]),
            # Back to the input's leading shape: (batch, tokens, width).
            helper.make_node("Concat", [f"{p}_lead", f"{name}_width"], [f"{name}_shape"], axis=0),
            helper.make_node("Reshape", [f"{name}_scaled", f"{name}_shape"], [node.output[0]]),
        ]
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for n in graph.node for name in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept + [i for i in added if i.name in used])
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(out))
    return count


def _quantise_input(helper: Any, x: str, p: str) -> list[Any]:
    """Nodes that quantise ``x`` row by row: ``{p}_q`` (rows, width) uint8, ``{p}_column`` (rows, 1)
    the rows' scales, ``{p}_lead`` the shape of ``x`` without its last axis."""
    return [
        helper.make_node("Reshape", [x, f"{p}_rows"], [f"{p}_matrix"]),
        helper.make_node("Shape", [x], [f"{p}_shape"]),
        helper.make_node("Slice", [f"{p}_shape", "rowq_first", "rowq_last"], [f"{p}_lead"]),
        helper.make_node("ReduceMax", [f"{p}_matrix"], [f"{p}_high"], axes=[1], keepdims=0),
        helper.make_node("ReduceMin", [f"{p}_matrix"], [f"{p}_low"], axes=[1], keepdims=0),
        helper.make_node("Neg", [f"{p}_low"], [f"{p}_minus_low"]),
        helper.make_node("Max", [f"{p}_high", f"{p}_minus_low", "rowq_eps"], [f"{p}_range"]),
        helper.make_node("Div", [f"{p}_range", "rowq_127"], [f"{p}_scale"]),
        # Per-axis quantisation wants one zero point per row: 128 each.
        helper.make_node("Shape", [f"{p}_scale"], [f"{p}_count"]),
        helper.make_node("Expand", ["rowq_zp_row", f"{p}_count"], [f"{p}_zero_points"]),
        # Divide by the row's scale, round half to even, add 128, saturate to 0..255: one op.
        helper.make_node("QuantizeLinear", [f"{p}_matrix", f"{p}_scale", f"{p}_zero_points"], [f"{p}_q"],
                         axis=0),
        helper.make_node("Unsqueeze", [f"{p}_scale", "rowq_axis1"], [f"{p}_column"]),
    ]
