"""One way to open an ONNX Runtime session for the encoders, on a CPU or a CUDA GPU."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import NotReady
from retrieval.int8_weights import saturates, unsigned_weights


def open_session(path: Path, threads: int, device: str = "cpu") -> Any:
    """An inference session on ``device`` with ``threads`` intra-op threads; NotReady when the
    device's execution provider is not in this install."""
    import onnxruntime as ort

    provider = "CUDAExecutionProvider" if device == "cuda" else "CPUExecutionProvider"
    if provider not in ort.get_available_providers():
        raise NotReady(f"SHOPBOT_DEVICE={device} needs ONNX Runtime's {provider} (onnxruntime-gpu and "
                       f"a CUDA GPU); this install has {', '.join(ort.get_available_providers())}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(portable_int8(path) if device == "cpu" else str(path), options,
                                providers=[provider])


def portable_int8(path: Path, cpu_saturates: bool | None = None) -> str | bytes:
    """``path``, or on a CPU whose int8 kernel saturates (``retrieval/int8_weights.py``) the graph
    with its int8 weights stored unsigned: the same products from a kernel that does not overflow."""
    if not (saturates() if cpu_saturates is None else cpu_saturates):
        return str(path)
    import onnx

    model = onnx.load(str(path))
    return model.SerializeToString() if unsigned_weights(model) else str(path)


def graph_run(session: Any) -> Callable[[np.ndarray, np.ndarray], list[np.ndarray]]:
    """``session``'s outputs for one batch of token ids and attention mask (the MiniLM graphs' inputs)."""
    return lambda ids, mask: session.run(None, {"input_ids": ids, "attention_mask": mask})


def export_sentence_graph(module: Any, path: Path) -> None:
    """Export a ``(input_ids, attention_mask) -> embedding`` module to ONNX (opset 17), with the
    batch and the token count left free."""
    import torch

    ids = torch.ones(2, 8, dtype=torch.long)
    with torch.inference_mode():
        torch.onnx.export(
            module, (ids, ids), str(path), input_names=["input_ids", "attention_mask"],
            output_names=["embedding"], opset_version=17, dynamo=False,
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                          "embedding": {0: "batch"}},
        )
