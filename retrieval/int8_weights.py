"""Int8 weights that every x86 CPU multiplies exactly.

ONNX Runtime multiplies uint8 activations by int8 weights (U8S8) on x86 with ``vpmaddubsw`` unless
the CPU has VNNI: it adds each pair of products in 16 bits with saturation, and full-range int8
weights overflow it (255 × 127 × 2 > 32,767). On an AVX2-only CPU (an AMD EPYC of this project's
CI, found 2026-12-06) the per-row graphs' MatMuls were off by 10-28 % of their largest output and
the mpnet export's vectors had a cosine of -0.05 to fp32. Uint8 weights (U8U8) take another kernel
that does not saturate. The same integers stored shifted by 128 with a zero point of 128 give the
same products, so the answers are the same on every CPU; only the kernel differs. The graphs on
disk stay U8S8 (the fast kernel where VNNI is there); a session opened on a CPU without VNNI gets
the shifted copy.
"""

from __future__ import annotations

import functools
import platform
import re
from pathlib import Path
from typing import Any

import numpy as np

# Integer MatMuls and where their weight and its zero point are among the inputs.
_WEIGHT_INPUTS = {"MatMulInteger": (1, 3), "MatMulIntegerToFloat": (1, 5), "DynamicQuantizeMatMul": (1, 3)}
_VNNI = re.compile(r"\b(?:avx512_vnni|avx512vnni|avx_vnni|amx_int8)\b")
_INT8 = 3  # onnx.TensorProto.INT8 (onnx is imported only where a graph is rewritten)


def saturates(cpuinfo: str | None = None) -> bool:
    """Whether this CPU's U8S8 kernel saturates: x86 without VNNI (``cpuinfo``: /proc/cpuinfo's text)."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686", "x86"):
        return False
    if cpuinfo is None:
        return _this_cpu_saturates()
    return _VNNI.search(cpuinfo) is None


@functools.cache
def _this_cpu_saturates() -> bool:
    # Read once: every session a process opens asks.
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True  # nothing to tell: the exact kernel, slower at worst
    return _VNNI.search(cpuinfo) is None


def unsigned_weights(model: Any) -> int:
    """Store every constant int8 weight of an integer MatMul in ``model`` (an ``onnx.ModelProto``,
    changed in place) as uint8 shifted by 128, with its zero point shifted too; returns how many."""
    from onnx import numpy_helper

    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    done: dict[str, str] = {}  # int8 weight or zero point -> its uint8 copy
    count = 0

    def shifted(name: str) -> str:
        if name not in done:
            values = numpy_helper.to_array(initializers[name]).astype(np.int16) + 128
            copy = numpy_helper.from_array(values.astype(np.uint8), f"{name}_u8")
            graph.initializer.append(copy)
            done[name] = copy.name
        return done[name]

    for node in graph.node:
        places = _WEIGHT_INPUTS.get(node.op_type)
        if places is None or len(node.input) <= places[0]:
            continue
        weight_at, zero_at = places
        weight = initializers.get(node.input[weight_at])
        if weight is None or weight.data_type != _INT8:
            continue
        zero = node.input[zero_at] if len(node.input) > zero_at and node.input[zero_at] else ""
        if zero and zero not in initializers:
            continue  # a zero point computed at run time: left as it is
        node.input[weight_at] = shifted(weight.name)
        if zero:
            node.input[zero_at] = shifted(zero)
        else:
            # No zero point means 0: shifted, 128, one for the whole weight.
            while len(node.input) < zero_at:
                node.input.append("")
            name = "int8_weights_zero_point_128"
            if name not in initializers:
                initializers[name] = numpy_helper.from_array(np.array(128, dtype=np.uint8), name)
                graph.initializer.append(initializers[name])
            node.input.append(name)
        count += 1
    used = {name for n in graph.node for name in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return count

