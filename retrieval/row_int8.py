"""Int8 MatMuls whose activations are scaled per row, so a text's output never depends on its batch.

ONNX Runtime's dynamic quantisation (``quantize_dynamic``) scales each MatMul's activations once
per run, over the whole batch: batched with other shoppers' messages, a message's int8 values,
and so its logits, change (3.8 % of the demo shop's routing decisions flipped, docs/quality.md).
Here every row (one token of one text) gets its own scale, the largest magnitude in that row,
so each row is quantised from its own values alone; the weights keep per-output-channel scales
as before. Integer products are exact, so batched and alone give the same numbers up to the fp32
rounding of the ops around them.

Each distinct MatMul input is quantised once (the query, key and value projections share theirs)
and feeds ONNX Runtime's ``MatMulIntegerToFloat`` (uint8 activations with zero point 128, int8
weights), whose per-tensor activation scale is 1; the row's scale multiplies the product after.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

# Written into an export's metadata: an export without it is re-made (`onnx_is_current`).
FORMAT = "int8-per-row"
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
            nodes += [
                helper.make_node("Abs", [x], [f"{p}_abs"]),
                helper.make_node("ReduceMax", [f"{p}_abs"], [f"{p}_max"], axes=[-1], keepdims=1),
                helper.make_node("Max", [f"{p}_max", "rowq_eps"], [f"{p}_range"]),
                helper.make_node("Div", ["rowq_127", f"{p}_range"], [f"{p}_inverse"]),
                helper.make_node("Div", [f"{p}_range", "rowq_127"], [f"{p}_scale"]),
                helper.make_node("Mul", [x, f"{p}_inverse"], [f"{p}_scaled"]),
                # Round half to even, add the zero point, saturate to 0..255: one op.
                helper.make_node("QuantizeLinear", [f"{p}_scaled", "rowq_one", "rowq_zp"], [f"{p}_q"]),
            ]
        p = quantised[x]
        w = numpy_helper.to_array(weight).astype(np.float32)
        w_scale = (np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0).astype(np.float32)
        w_q = np.clip(np.rint(w / w_scale), -127, 127).astype(np.int8)
        name = f"rowq_w{count}"
        added += [numpy_helper.from_array(w_q, f"{name}_q"),
                  numpy_helper.from_array(w_scale, f"{name}_scale")]
        nodes += [
            # The weights' zero point is left out: symmetric int8, so the op's default of 0.
            helper.make_node("MatMulIntegerToFloat",
                             [f"{p}_q", f"{name}_q", "rowq_one", f"{name}_scale", "rowq_zp"],
                             [f"{name}_product"], domain="com.microsoft"),
            helper.make_node("Mul", [f"{name}_product", f"{p}_scale"], [node.output[0]]),
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
