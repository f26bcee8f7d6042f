"""The trained router: a fine-tuned MiniLM classifier that answers, routes or declines a message.

Training lives in ``retrieval/router_train.py``; this module holds what inference needs: the
hyper-parameters, the saved-model layout and the scoring rule. A message is declined (``label``
None) when its in-scope energy score (log-sum-exp of the in-scope logits, lowered when the
``out_of_scope`` class wins) falls below the threshold calibrated on held-out phrasings of the
shop's own knowledge.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import NotReady, RetrievalError
from core.turns import RouterOutput

OUT_OF_SCOPE = "out_of_scope"
MODEL_FILE = "router.json"
HEAD_FILE = "head.npz"
PROFILES = ("fast", "accurate")
# The accurate profile's operating point, chosen on 5-fold CV and CLINC150 validation together
# (research/router_calibration.py; docs/quality.md, "Router profiles"); fast keeps 0.995.
ACCURATE_KEEP_RATE = 0.995
ENCODER_DIR = "encoder"
RANKING_SIZE = 5
_CHUNK = 128


@dataclass(frozen=True)
class RouterConfig:
    """Hyper-parameters of the router; every field goes into the model version."""

    # Tokens kept per phrasing and per message. Padding is per batch, so short messages cost
    # the same at any cap; 32 (fit to CLINC150, 99 % of it <= 21 tokens) cut 7 % of BANKING77's
    # phrasings short. 128 is the length the base model was trained at (docs/quality.md).
    max_seq_length: int = 128
    # The bottom layers stay as pre-trained and are run once per phrasing, not once per step.
    frozen_layers: int = 3
    epochs: float = 3.0
    min_steps: int = 300
    batch_size: int = 32
    encoder_lr: float = 1e-4
    head_lr: float = 3e-3
    weight_decay: float = 0.01
    warmup: float = 0.1
    # Calibration: share of each entry's phrasings (and of out_of_scope examples) held out.
    holdout_fraction: float = 0.2
    # Operating point: answer this share of the held-out in-scope phrasings routed right.
    keep_rate: float = 0.995
    refit: bool = True
    seed: int = 0
    threads: int = 2
    # "fast": the MiniLM router alone; "accurate": with a frozen all-mpnet-base-v2 head
    # (retrieval/router_ensemble.py).
    profile: str = "fast"

    @classmethod
    def tiny(cls) -> RouterConfig:
        """A config that trains in seconds, for tests."""
        return cls(max_seq_length=16, frozen_layers=5, epochs=1.0, min_steps=40, batch_size=16,
                   encoder_lr=2e-4, head_lr=1e-2, holdout_fraction=0.25, keep_rate=0.9,
                   refit=False)

    def for_profile(self, profile: str) -> RouterConfig:
        """This config for ``profile``: the accurate one takes its own operating point, unless
        this is a test config with its own (``tiny``)."""
        keep = ACCURATE_KEEP_RATE if profile == "accurate" and self.keep_rate == RouterConfig.keep_rate \
            else self.keep_rate
        return replace(self, profile=profile, keep_rate=keep)

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON form, saved with the model (and hashed into its version)."""
        data = asdict(self)
        # Routers trained before profiles existed are fast ones: their versions stay as they were.
        if data["profile"] == "fast":
            del data["profile"]
        return data


@dataclass(frozen=True)
class SavedRouter:
    """Contents of ``router.json``: labels in head order, threshold and calibration facts."""

    version: str
    labels: tuple[str, ...]
    threshold: float
    config: dict[str, Any]
    calibration: dict[str, Any]


def in_scope_scores(logits: np.ndarray, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ranking probabilities and the answer score of each row of head ``logits``.

    Returns ``(probs, score, columns)``: ``probs[:, j]`` is the softmax probability (the
    out_of_scope class keeps its share) of ``labels[columns[j]]``; ``score`` is the log-sum-exp
    of the in-scope logits (an energy score), less the margin by which out_of_scope beats the
    best in-scope entry when it does.
    """
    oos = [i for i, lab in enumerate(labels) if lab == OUT_OF_SCOPE]
    columns = np.array([i for i, lab in enumerate(labels) if lab != OUT_OF_SCOPE])
    inside = logits[:, columns]
    best = inside.max(axis=1)
    score = best + np.log(np.exp(inside - best[:, None]).sum(axis=1))
    if oos:
        score -= np.maximum(0.0, logits[:, oos[0]] - best)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = shifted / shifted.sum(axis=1, keepdims=True)
    return probs[:, columns], score, columns


def router_outputs(
    probs: np.ndarray, score: np.ndarray, columns: np.ndarray, labels: Sequence[str], threshold: float
) -> list[RouterOutput]:
    """Outputs from scores: best entry, ranking, and answer only when ``score >= threshold``.

    ``confidence`` is ``sigmoid(score - threshold)``: 0.5 exactly at the calibrated boundary.
    ``probs`` are ``in_scope_scores``' (the out_of_scope class keeps its share), so what the
    in-scope columns leave is that class's probability, ``off_topic``.
    """
    outputs = []
    k = min(RANKING_SIZE, probs.shape[1])
    for row, value in zip(probs, score, strict=True):
        best = np.argsort(-row, kind="stable")[:k]
        ranking = tuple((labels[columns[j]], float(row[j])) for j in best)
        top = ranking[0][0]
        # In float64: far below the threshold exp() would overflow float32 (the result is 0 anyway).
        confidence = float(1.0 / (1.0 + np.exp(min(threshold - float(value), 700.0))))
        off_topic = min(1.0, max(0.0, 1.0 - float(row.sum(dtype=np.float64))))
        outputs.append(RouterOutput(top if value >= threshold else None, top, confidence, ranking, off_topic))
    return outputs


def mean_pool(hidden: Any, mask: Any) -> Any:
    """Mean of the token vectors under ``mask`` (sentence-transformers' pooling)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def run_layers(layers: Any, hidden: Any, mask: Any, *extra: Any) -> Any:
    """Run transformer ``layers`` on token states with a padding mask (``extra``: what else each
    layer takes after the mask, such as MPNet's relative position bias)."""
    import torch

    # An additive (batch, 1, 1, tokens) mask is what both eager and SDPA attention accept.
    additive = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
    for layer in layers:
        out = layer(hidden, additive, *extra)
        # transformers < 5 returns a tuple per layer, 5.x the hidden states alone.
        hidden = out[0] if isinstance(out, tuple) else out
    return hidden


def load_saved(model_dir: Path) -> SavedRouter:
    """Read ``router.json``; a missing or broken file means the router is not trained."""
    path = model_dir / MODEL_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return SavedRouter(
            version=str(data["version"]),
            labels=tuple(data["labels"]),
            threshold=float(data["threshold"]),
            config=dict(data["config"]),
            calibration=dict(data["calibration"]),
        )
    except FileNotFoundError as err:
        raise NotReady(f"no trained router under {model_dir}: run `shopbot setup`, or deploy one "
                       "(`shopbot train`, then `shopbot deploy`)") from err
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise NotReady(f"{path} is unreadable: {err}") from err


class TrainedRouter:
    """Routes batches of messages with a router saved by ``train_router``."""

    def __init__(self, model_dir: Path) -> None:
        self._dir = Path(model_dir)
        self._lock = threading.Lock()
        self._saved: SavedRouter | None = None
        self._parts: tuple[Any, Any, Any, Any] | None = None

    @property
    def version(self) -> str:
        """Hash of the knowledge and config the router was trained on."""
        return self._meta().version

    @property
    def threshold(self) -> float:
        """Calibrated in-scope score below which a message is declined."""
        return self._meta().threshold

    @property
    def calibration(self) -> dict[str, Any]:
        """How the threshold was chosen and how the held-out phrasings fared (router.json)."""
        return dict(self._meta().calibration)

    def _meta(self) -> SavedRouter:
        if self._saved is None:
            self._saved = load_saved(self._dir)
        return self._saved

    def warm_up(self) -> None:
        """Load tokenizer, encoder and head once; safe to call from several threads."""
        if self._parts is not None:
            return
        with self._lock:
            if self._parts is None:
                self._parts = self._load()

    def _load(self) -> tuple[Any, Any, Any, Any]:
        saved = self._meta()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(self._dir / ENCODER_DIR))
            encoder = AutoModel.from_pretrained(str(self._dir / ENCODER_DIR)).eval()
            with np.load(self._dir / HEAD_FILE) as head:
                weight = torch.from_numpy(head["weight"])
                bias = torch.from_numpy(head["bias"])
        except (OSError, ValueError, KeyError) as err:
            raise NotReady(f"cannot load the router under {self._dir}: {err}") from err
        if weight.shape[0] != len(saved.labels):
            raise NotReady(f"{self._dir}: head and router.json disagree on the labels")
        return tokenizer, encoder, weight, bias

    def run(self, texts: Sequence[str]) -> list[RouterOutput]:
        """Route each text: its best entry, top-5 ranking and whether to answer it."""
        if not texts:
            return []
        self.warm_up()
        saved = self._meta()
        logits = self.logits(texts)
        probs, score, columns = in_scope_scores(logits, saved.labels)
        return router_outputs(probs, score, columns, saved.labels, saved.threshold)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw head scores, one column per label of ``router.json``."""
        self.warm_up()
        assert self._parts is not None
        tokenizer, encoder, weight, bias = self._parts
        max_len = int(self._meta().config["max_seq_length"])
        try:
            return encoder_logits(tokenizer, encoder, weight, bias, list(texts), max_len)
        except RuntimeError as err:
            raise RetrievalError(f"router inference failed: {err}") from err


def encoder_logits(
    tokenizer: Any, encoder: Any, weight: Any, bias: Any, texts: list[str], max_len: int
) -> np.ndarray:
    """Head scores of ``texts`` through the full encoder (the path every query takes)."""
    import torch

    chunks = []
    with torch.inference_mode():
        # Chunks bound the padding and memory of one call; a live batch is far smaller.
        for start in range(0, len(texts), _CHUNK):
            batch = tokenizer(texts[start : start + _CHUNK], padding=True, truncation=True,
                              max_length=max_len, return_tensors="pt")
            hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            pooled = mean_pool(hidden.last_hidden_state, batch["attention_mask"])
            chunks.append((pooled @ weight.T + bias).float().numpy())
    return np.concatenate(chunks)
