"""GPT-2 at the speed of memory: the same checkpoint, KV-cached, int8, on ONNX Runtime.

``GPT2LMHeadModel.from_pretrained(dir)`` stays the source of truth. Once per checkpoint it is
exported (``export_gpt2``) as one decoding step with an explicit key/value cache, one input and
one output per layer so that nothing is stacked or copied twice, and its MatMul weights are
quantised to int8 per output channel. Decoding then runs in a short numpy loop: the prompt in
one pass, then one token per pass over the cache, greedy or sampled, with the repetition
penalty over the answer only, the same stop tokens and the same time budget as the PyTorch
path. Serving imports no PyTorch.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.generation.copying import boundary_ids, copy_targets
from bot.generation.prompt import END_TOKEN, extract_answer, fit_prompt
from bot.generation.service import Generation
from bot.generation.versions import checkpoint_version
from core.errors import GenerationError, NotReady
from retrieval.onnx_session import portable_int8

log = logging.getLogger(__name__)

INT8_FILE = "step.int8.onnx"
META_FILE = "export.json"
# Bumped when the exported graph changes, so that an older export of a checkpoint is redone.
EXPORT_FORMAT = 3
# int8 weights in blocks of this many input rows, each with its own scale (finer than one scale
# per output channel), multiplied by ONNX Runtime's MatMulNBits kernel with int8 activations.
WEIGHT_BLOCK = 256


@dataclass(frozen=True)
class _Loaded:
    session: Any
    tokenizer: Any
    stop_ids: frozenset[int]
    layers: int
    heads: int
    head_dim: int
    n_positions: int
    end_id: int
    boundaries: frozenset[int]  # passage separators and line breaks, for the copy bias


def export_gpt2(model_dir: Path, out_dir: Path) -> Path:
    """Export one KV-cached decoding step of a GPT-2 checkpoint and quantise it (needs PyTorch)."""
    import torch
    from transformers import GPT2LMHeadModel

    hf = GPT2LMHeadModel.from_pretrained(str(model_dir)).eval()
    cfg = hf.config
    layers, heads = cfg.n_layer, cfg.n_head
    head_dim = cfg.n_embd // heads

    def linear(conv: Any, x: Any) -> Any:
        # GPT-2's Conv1D flattens and restores the shape around its matmul; a plain 3-D matmul
        # exports as one MatMul (and quantises as one), with no shape arithmetic around it.
        return x @ conv.weight + conv.bias

    class Step(torch.nn.Module):
        # (ids, k_0..k_L-1, v_0..v_L-1) -> (logits of the last position, k'_0.., v'_0..)
        def __init__(self) -> None:
            super().__init__()
            self.t = hf.transformer

        def forward(self, input_ids: Any, *past: Any) -> tuple[Any, ...]:
            past_k, past_v = past[:layers], past[layers:]
            seen, n = past_k[0].shape[2], input_ids.shape[1]
            x = self.t.wte(input_ids) + self.t.wpe(torch.arange(seen, seen + n).unsqueeze(0))
            # The mask is added, computed once; every reshape below has constant dimensions (-1
            # for the token count), so the graph holds no per-layer shape arithmetic: at one token
            # per step that plumbing cost about a fifth of the time.
            allowed = torch.ones(n, seen + n, dtype=torch.bool).tril(seen)
            mask = torch.zeros(n, seen + n).masked_fill(~allowed, float("-inf"))
            scale = 1.0 / math.sqrt(head_dim)
            keys, values = [], []
            for i, block in enumerate(self.t.h):
                q, k, v = linear(block.attn.c_attn, block.ln_1(x)).split(cfg.n_embd, dim=2)
                q, k, v = (t.reshape(1, -1, heads, head_dim).transpose(1, 2) for t in (q, k, v))
                k, v = torch.cat([past_k[i], k], dim=2), torch.cat([past_v[i], v], dim=2)
                keys.append(k)
                values.append(v)
                weights = (q * scale) @ k.transpose(-1, -2) + mask
                y = (weights.softmax(-1) @ v).transpose(1, 2).reshape(1, -1, cfg.n_embd)
                x = x + linear(block.attn.c_proj, y)
                x = x + linear(block.mlp.c_proj, block.mlp.act(linear(block.mlp.c_fc, block.ln_2(x))))
            last = self.t.ln_f(x[:, -1, :])
            return (last @ self.t.wte.weight.T, *keys, *values)

    past_in = [f"past_{j}" for j in range(2 * layers)]
    past_out = [f"present_{j}" for j in range(2 * layers)]
    staging = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    ids = torch.ones(1, 3, dtype=torch.long)
    past = tuple(torch.zeros(1, heads, 2, head_dim) for _ in range(2 * layers))
    with torch.inference_mode():
        torch.onnx.export(
            Step().eval(), (ids, *past), str(staging / "step.fp32.onnx"),
            input_names=["input_ids", *past_in], output_names=["logits", *past_out], opset_version=17,
            dynamo=False,
            dynamic_axes={"input_ids": {1: "new"}, **{n: {2: "seen"} for n in past_in},
                          **{n: {2: "total"} for n in past_out}},
        )
    quantize_weights(staging / "step.fp32.onnx", staging / INT8_FILE)
    (staging / "step.fp32.onnx").unlink()
    meta = {"format": EXPORT_FORMAT, "checkpoint": checkpoint_version(model_dir), "layers": layers,
            "heads": heads, "head_dim": head_dim, "n_positions": cfg.n_positions}
    (staging / META_FILE).write_text(json.dumps(meta) + "\n", encoding="utf-8")
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    return out_dir


def quantize_weights(fp32: Path, int8: Path) -> None:
    """Block-wise int8 weights for every MatMul with a constant weight (the LM head included).

    Decoding one token is a row vector times every weight matrix, so it is bound by reading the
    weights. MatMulNBits (8 bits, symmetric, ``accuracy_level=4``: int8 activations) reads them
    as int8 like dynamic quantisation does, but its kernel is made for that shape: on GPT-2-124M
    with two threads it decoded in 0.77-0.85 x the time of ``quantize_dynamic``'s
    DynamicQuantizeMatMul (same session settings, one machine, three runs; docs/benchmarks.md).
    """
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quantizer = MatMulNBitsQuantizer(onnx.load(str(fp32)), bits=8, block_size=WEIGHT_BLOCK,
                                     is_symmetric=True, accuracy_level=4)
    quantizer.process()
    quantizer.model.save_model_to_file(str(int8), use_external_data_format=False)


def _current_export(target: Path) -> dict[str, Any] | None:
    """The metadata of a complete export in ``target`` of the current format, else None."""
    try:
        meta: dict[str, Any] = json.loads((target / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    current = (target / INT8_FILE).is_file() and int(meta.get("format", 1)) == EXPORT_FORMAT
    return meta if current else None


class OnnxGpt2Generator:
    """Answers from a GPT-2 checkpoint through its int8 ONNX export, one generation at a time."""

    def __init__(self, model_dir: Path, cache_dir: Path, *, max_new_tokens: int = 60,
                 threads: int = 1, repetition_penalty: float = 1.3) -> None:
        self._dir = Path(model_dir)
        self._cache = Path(cache_dir)
        self._max_new_tokens = max_new_tokens
        self._threads = threads
        self._penalty = repetition_penalty
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None
        self._version: str | None = None

    @property
    def version(self) -> str:
        """The checkpoint's version, and how it is decoded."""
        if self._version is None:
            self._version = f"{checkpoint_version(self._dir)}+onnx-int8"
        return self._version

    def exported_dir(self) -> Path:
        """Where this checkpoint's export lives."""
        return self._cache / checkpoint_version(self._dir)

    def warm_up(self) -> None:
        """Export the checkpoint if that was not done yet (needs PyTorch once), then load it."""
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load()

    def _load(self) -> _Loaded:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if not (self._dir / "config.json").is_file():
            raise NotReady(f"no generator checkpoint in {self._dir}: run `shopbot setup`")
        target = self.exported_dir()
        meta = _current_export(target)
        if meta is None:
            log.info("exporting %s for ONNX Runtime (int8); once per checkpoint", self._dir)
            export_gpt2(self._dir, target)
            meta = json.loads((target / META_FILE).read_text(encoding="utf-8"))
        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(portable_int8(target / INT8_FILE), options,
                                       providers=["CPUExecutionProvider"])
        tokenizer = Tokenizer.from_file(str(self._dir / "tokenizer.json"))
        end = tokenizer.token_to_id(END_TOKEN)
        if end is None:
            raise GenerationError(f"the tokenizer in {self._dir} has no end-of-text token")
        pieces = [tokenizer.decode([i]) for i in range(tokenizer.get_vocab_size())]
        # An answer is one line: any token holding a line break ends it, as on the PyTorch path.
        newlines = {i for i, piece in enumerate(pieces) if "\n" in piece}
        return _Loaded(session, tokenizer, frozenset({end, *newlines}), int(meta["layers"]),
                       int(meta["heads"]), int(meta["head_dim"]), int(meta["n_positions"]),
                       end, boundary_ids(pieces))

    def run(self, question: str, passages: Sequence[str], *, max_time_s: float,
            copy_bias: float = 0.0) -> Generation:
        """Answer ``question`` from ``passages`` within ``max_time_s`` (checked every token).

        ``copy_bias`` > 0 favours copying spans of the context (``bot.generation.copying``)
        and turns the repetition penalty off.
        """
        started = time.time()
        if self._loaded is None:
            self.warm_up()
        loaded = self._loaded
        assert loaded is not None
        if not self._lock.acquire(timeout=max(0.0, max_time_s - (time.time() - started))):
            raise GenerationError(f"generator busy for the whole {max_time_s:.2f}s budget")
        try:
            return self._generate(loaded, question, passages, started, max_time_s, copy_bias)
        except GenerationError:
            raise
        except Exception as err:
            raise GenerationError(f"generation failed: {err}") from err
        finally:
            self._lock.release()

    def _generate(self, loaded: _Loaded, question: str, passages: Sequence[str], started: float,
                  max_time_s: float, copy_bias: float) -> Generation:
        max_new = min(self._max_new_tokens, loaded.n_positions // 2)
        prompt = fit_prompt(lambda text: loaded.tokenizer.encode(text, add_special_tokens=False).ids,
                            question, passages, loaded.n_positions - max_new)
        names = [f"past_{j}" for j in range(2 * loaded.layers)]
        empty = np.zeros((1, loaded.heads, 0, loaded.head_dim), dtype=np.float32)
        feed: dict[str, Any] = {"input_ids": np.array([prompt], dtype=np.int64),
                                **dict.fromkeys(names, empty)}
        new_ids: list[int] = []
        timed_out = stopped = False
        while len(new_ids) < max_new:
            out = loaded.session.run(None, feed)
            token = self._pick(out[0][0], new_ids, loaded, prompt, copy_bias)
            if token in loaded.stop_ids:
                stopped = True
                break
            new_ids.append(token)
            if time.time() - started >= max_time_s:
                timed_out = True
                break
            feed = {"input_ids": np.array([[token]], dtype=np.int64),
                    **dict(zip(names, out[1:], strict=True))}
        elapsed = time.time() - started
        text = extract_answer(loaded.tokenizer.decode(new_ids, skip_special_tokens=True))
        if not text:
            raise GenerationError("no answer within the time budget" if timed_out and not stopped
                                  else "the generator produced an empty answer")
        return Generation(text, len(prompt), len(new_ids), round(elapsed * 1000, 1), timed_out)

    def decode_speed(self, prompt_ids: Sequence[int], new_tokens: int) -> tuple[float, float]:
        """Prefill ms and ms per new token for exactly ``new_tokens`` greedy tokens (benchmarks).

        The same session, feeds and token choice as ``run``, minus the stop tokens, so that
        every checkpoint (random weights included) decodes the same length.
        """
        self.warm_up()
        loaded = self._loaded
        assert loaded is not None
        names = [f"past_{j}" for j in range(2 * loaded.layers)]
        empty = np.zeros((1, loaded.heads, 0, loaded.head_dim), dtype=np.float32)
        feed: dict[str, Any] = {"input_ids": np.array([list(prompt_ids)], dtype=np.int64),
                                **dict.fromkeys(names, empty)}
        answer: list[int] = []
        with self._lock:
            started = time.perf_counter()
            out = loaded.session.run(None, feed)
            prefilled = time.perf_counter()
            for _ in range(new_tokens):
                answer.append(self._pick(out[0][0], answer, loaded, prompt_ids, 0.0))
                feed = {"input_ids": np.array([[answer[-1]]], dtype=np.int64),
                        **dict(zip(names, out[1:], strict=True))}
                out = loaded.session.run(None, feed)
            done = time.perf_counter()
        return (prefilled - started) * 1000, (done - prefilled) * 1000 / max(1, new_tokens)

    def _pick(self, logits: np.ndarray, answer: list[int], loaded: _Loaded, prompt: Sequence[int],
              copy_bias: float) -> int:
        if copy_bias > 0:
            # Copying repeats words by design, so the copy bias replaces the repetition penalty.
            targets = copy_targets(prompt, answer, boundaries=loaded.boundaries, end_id=loaded.end_id)
            if targets:
                logits = logits.copy()
                logits[sorted(targets)] += copy_bias
        elif answer and self._penalty != 1.0:
            # The repetition penalty covers the answer only: copying facts from the prompt is the point.
            seen = np.array(sorted(set(answer)))
            scores = logits[seen]
            logits = logits.copy()
            logits[seen] = np.where(scores < 0, scores * self._penalty, scores / self._penalty)
        return int(np.argmax(logits))
