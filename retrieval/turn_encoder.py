"""One encoder pass per turn: the router's decision and the retrieval embedding together.

The router fine-tunes only the top layers of all-MiniLM-L6-v2; its embeddings and bottom
``frozen_layers`` layers are the base model's own. So a turn runs the tokenizer, the
embeddings and the bottom layers once, then two short stacks on top: the router's fine-tuned
layers (to its head) and the base model's own top layers (to the sentence embedding that
FAISS searches). Against a router pass plus a separate retrieval pass this saves one
tokenisation and ``frozen_layers`` layers per message.

Two backends give the same outputs: PyTorch, and ONNX Runtime on a graph exported from it at
``shopbot train`` (int8 by default, activations scaled per row so that no message's output
depends on its batch: ``retrieval/row_int8.py``; fp32 kept for comparison), a batch split into runs
of similar length (``retrieval/length_buckets.py``). The ONNX path imports no PyTorch at all.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import NotReady, RetrievalError
from retrieval.encoded import Encoded, TurnEncoder
from retrieval.length_buckets import run_by_length
from retrieval.mpnet import SIDE_BY_SIDE
from retrieval.onnx_session import graph_run, open_session
from retrieval.router import ENCODER_DIR, HEAD_FILE, in_scope_scores, load_saved, router_outputs
from retrieval.row_int8 import FORMAT as INT8_FORMAT
from retrieval.row_int8 import quantize_rows

ONNX_DIR = "onnx"
ONNX_META = "onnx.json"
FP32_FILE = "turn.fp32.onnx"
INT8_FILE = "turn.int8.onnx"
FP16_FILE = "turn.fp16.onnx"
_CHUNK = 128
BACKENDS = ("onnx-int8", "onnx-fp32", "torch")


class _Tokens:
    """The router's fast tokenizer, straight from ``tokenizers`` (no transformers at serve time)."""

    def __init__(self, encoder_dir: Path, max_len: int) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(encoder_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_len)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def __call__(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        batch = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in batch], dtype=np.int64)
        mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
        return ids, mask


class OnnxTurnEncoder:
    """The exported graph on ONNX Runtime: ``input_ids, attention_mask -> logits, embedding``."""

    def __init__(self, router_dir: Path, *, int8: bool = True, threads: int = 1, device: str = "cpu") -> None:
        self._dir = Path(router_dir)
        # On a CUDA GPU the graph runs in fp16 (int8 kernels are a CPU optimisation).
        self._file = FP16_FILE if device == "cuda" else INT8_FILE if int8 else FP32_FILE
        self._device = device
        self._threads = threads
        self._lock = threading.Lock()
        self._loaded: tuple[Any, _Tokens, Any] | None = None

    @property
    def version(self) -> str:
        """The router's version and the graph's precision."""
        # Once loaded, from memory: it is read for every batch.
        saved = self._loaded[2] if self._loaded is not None else load_saved(self._dir)
        return f"{saved.version}+onnx-{self._file.split('.')[1]}"

    def warm_up(self) -> None:
        """Open the ONNX session once."""
        if self._loaded is not None:
            return
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load()

    def _load(self) -> tuple[Any, _Tokens, Any]:
        saved = load_saved(self._dir)
        path = self._dir / ONNX_DIR / self._file
        if not onnx_is_current(self._dir):
            raise NotReady(f"no ONNX export of the router under {self._dir}: run `shopbot setup`")
        try:
            session = open_session(path, self._threads, self._device)
        except Exception as err:  # noqa: BLE001 - a broken export is "not ready", not a crash
            raise NotReady(f"cannot load {path}: {err}") from err
        tokens = _Tokens(self._dir / ENCODER_DIR, int(saved.config["max_seq_length"]))
        return session, tokens, saved

    def run(self, texts: Sequence[str]) -> list[Encoded]:
        """Decision and embedding of each text."""
        if not texts:
            return []
        logits, vectors = self.raw(texts)
        assert self._loaded is not None
        return _encoded(logits, vectors, self._loaded[2])

    def raw(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The router head's logits and the unit retrieval embeddings of ``texts`` (non-empty)."""
        self.warm_up()
        assert self._loaded is not None
        session, tokens, _ = self._loaded
        logits, vectors = [], []
        try:
            for start in range(0, len(texts), _CHUNK):
                ids, mask = tokens(texts[start : start + _CHUNK])
                out = run_by_length(graph_run(session), ids, mask)
                logits.append(out[0])
                vectors.append(out[1])
        except Exception as err:  # noqa: BLE001 - any runtime failure is a retrieval failure
            raise RetrievalError(f"turn encoder failed: {err}") from err
        return np.concatenate(logits), np.concatenate(vectors)


def _encoded(logits: np.ndarray, vectors: np.ndarray, saved: Any) -> list[Encoded]:
    probs, score, columns = in_scope_scores(logits, saved.labels)
    outputs = router_outputs(probs, score, columns, saved.labels, saved.threshold)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    return [Encoded(o, v) for o, v in zip(outputs, vectors, strict=True)]


class TorchTurnEncoder:
    """The same computation in PyTorch (the reference the ONNX graph is exported from)."""

    def __init__(self, router_dir: Path, base_dir: Path | None = None, *, threads: int = 1) -> None:
        self._dir = Path(router_dir)
        self._base = base_dir
        self._threads = threads
        self._lock = threading.Lock()
        self._loaded: tuple[Any, _Tokens, Any] | None = None

    @property
    def version(self) -> str:
        """The router's version on PyTorch."""
        saved = self._loaded[2] if self._loaded is not None else load_saved(self._dir)
        return f"{saved.version}+torch"

    def warm_up(self) -> None:
        """Build the shared module once."""
        if self._loaded is not None:
            return
        with self._lock:
            if self._loaded is None:
                saved = load_saved(self._dir)
                module = shared_module(self._dir, self._base)
                tokens = _Tokens(self._dir / ENCODER_DIR, int(saved.config["max_seq_length"]))
                self._loaded = module, tokens, saved

    def run(self, texts: Sequence[str]) -> list[Encoded]:
        """Decision and embedding of each text."""
        if not texts:
            return []
        logits, vectors = self.raw(texts)
        assert self._loaded is not None
        return _encoded(logits, vectors, self._loaded[2])

    def raw(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The router head's logits and the unit retrieval embeddings of ``texts`` (non-empty)."""
        self.warm_up()
        assert self._loaded is not None
        import torch

        module, tokens, _ = self._loaded
        torch.set_num_threads(self._threads)
        logits, vectors = [], []
        with torch.inference_mode():
            for start in range(0, len(texts), _CHUNK):
                ids, mask = tokens(texts[start : start + _CHUNK])
                out = module(torch.from_numpy(ids), torch.from_numpy(mask))
                logits.append(out[0].numpy())
                vectors.append(out[1].numpy())
        return np.concatenate(logits), np.concatenate(vectors)


def turn_encoder(
    backend: str, router_dir: Path, threads: int = 1, *, mpnet_dir: Path | None = None, device: str = "cpu",
    mpnet_runs: int = SIDE_BY_SIDE,
) -> TurnEncoder:
    """The turn encoder of the router under ``router_dir`` on a backend: ``onnx-int8``, ``onnx-fp32``
    or ``torch``; an accurate-profile router adds its mpnet encoder (the export under ``mpnet_dir``,
    ``mpnet_runs`` texts side by side) and keeps its MiniLM graph in fp32 on either ONNX backend.
    """
    accurate = profile_of(router_dir) == "accurate"
    if backend in ("onnx-int8", "onnx-fp32"):
        # The accurate profile's MiniLM graph stays fp32: its ensemble's threshold and cascade were
        # calibrated on fp32 logits. (Both profiles' int8 graphs once scaled activations per run,
        # over the whole batch; the per-row format has no such dependence, docs/quality.md.)
        minilm: OnnxTurnEncoder | TorchTurnEncoder = OnnxTurnEncoder(
            router_dir, int8=backend == "onnx-int8" and not accurate, threads=threads, device=device)
    elif backend == "torch":
        minilm = TorchTurnEncoder(router_dir, threads=threads)
    else:
        raise ValueError(f"unknown inference backend {backend!r}: torch, onnx-fp32 or onnx-int8")
    if not accurate:
        return minilm
    from retrieval.ensemble_encoder import EnsembleTurnEncoder
    from retrieval.mpnet import MpnetEncoder

    if mpnet_dir is None:
        raise NotReady(f"{router_dir} is an accurate-profile router: it needs the all-mpnet-base-v2 export")
    mpnet = MpnetEncoder(mpnet_dir, threads=threads, device=device, runs=mpnet_runs)
    return EnsembleTurnEncoder(minilm, mpnet, router_dir)


def profile_of(router_dir: Path) -> str:
    """The profile the router under ``router_dir`` was trained for (``fast`` when unreadable)."""
    try:
        return str(load_saved(Path(router_dir)).config.get("profile", "fast"))
    except NotReady:
        return "fast"


def shared_module(router_dir: Path, base_dir: Path | None = None) -> Any:
    """The PyTorch module: shared bottom, router top + head, and the base model's own top."""
    import torch
    from transformers import AutoModel

    from retrieval.embeddings import bundled_model_path
    from retrieval.router import mean_pool, run_layers

    saved = load_saved(router_dir)
    frozen = int(saved.config["frozen_layers"])
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Eager attention: the graph exports to plain ONNX operators.
    router = AutoModel.from_pretrained(str(router_dir / ENCODER_DIR), attn_implementation="eager").eval()
    base_path = str(base_dir or bundled_model_path())
    base = AutoModel.from_pretrained(base_path, attn_implementation="eager").eval()
    with np.load(router_dir / HEAD_FILE) as head:
        weight, bias = torch.from_numpy(head["weight"]), torch.from_numpy(head["bias"])

    class Shared(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embeddings = router.embeddings
            self.lower = torch.nn.ModuleList(router.encoder.layer[:frozen])
            self.router_top = torch.nn.ModuleList(router.encoder.layer[frozen:])
            self.base_top = torch.nn.ModuleList(base.encoder.layer[frozen:])
            self.head = torch.nn.Linear(weight.shape[1], weight.shape[0])
            self.head.weight.data, self.head.bias.data = weight, bias

        def forward(self, input_ids: Any, attention_mask: Any) -> tuple[Any, Any]:
            hidden = self.embeddings(input_ids=input_ids)
            hidden = run_layers(self.lower, hidden, attention_mask)
            routed = mean_pool(run_layers(self.router_top, hidden, attention_mask), attention_mask)
            pooled = mean_pool(run_layers(self.base_top, hidden, attention_mask), attention_mask)
            return self.head(routed), torch.nn.functional.normalize(pooled, dim=-1)

    return Shared().eval()


def export_onnx(router_dir: Path, base_dir: Path | None = None) -> Path:
    """Export the shared module to ONNX (fp32), per-row int8 (``retrieval/row_int8.py``) and fp16;
    returns the dir."""
    import torch

    from retrieval.embeddings import to_fp16

    router_dir = Path(router_dir)
    out = router_dir / ONNX_DIR
    staging = router_dir / (ONNX_DIR + ".tmp")
    staging.mkdir(parents=True, exist_ok=True)
    module = shared_module(router_dir, base_dir)
    ids = torch.ones(2, 8, dtype=torch.long)
    mask = torch.ones(2, 8, dtype=torch.long)
    fp32 = staging / FP32_FILE
    with torch.inference_mode():
        torch.onnx.export(
            module, (ids, mask), str(fp32), input_names=["input_ids", "attention_mask"],
            output_names=["logits", "embedding"], opset_version=17, dynamo=False,
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                          "logits": {0: "batch"}, "embedding": {0: "batch"}},
        )
    quantize_rows(fp32, staging / INT8_FILE)
    to_fp16(fp32, staging / FP16_FILE)
    meta = {"router_version": load_saved(router_dir).version, "opset": 17, "int8": INT8_FORMAT}
    (staging / ONNX_META).write_text(json.dumps(meta) + "\n", encoding="utf-8")
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return out


def onnx_is_current(router_dir: Path) -> bool:
    """Whether the ONNX export under ``router_dir`` belongs to the router saved there."""
    try:
        meta = json.loads((Path(router_dir) / ONNX_DIR / ONNX_META).read_text(encoding="utf-8"))
        # An int8 graph of an earlier format (per-batch activation scales) is re-made too.
        return bool(meta["router_version"] == load_saved(Path(router_dir)).version
                    and meta.get("int8") == INT8_FORMAT) and all(
            (Path(router_dir) / ONNX_DIR / name).is_file() for name in (FP32_FILE, INT8_FILE, FP16_FILE))
    except (OSError, ValueError, KeyError, NotReady):
        return False
