"""Training and calibrating the router on a shop's own knowledge entries.

Method: all-MiniLM-L6-v2 with mean pooling and a softmax head over every entry, the
``out_of_scope`` entry included as a class. The bottom ``frozen_layers`` stay pre-trained, so
their output is computed once per phrasing and only the top layers and the head train.

Calibration: a first fit leaves out ``holdout_fraction`` of each entry's phrasings (and of the
out_of_scope examples); the decline threshold is the in-scope energy score that still
answers ``keep_rate`` of the held-out phrasings that fit routes right. A final fit on
everything (``refit``) then reuses that threshold. Measurements: docs/quality.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from core.errors import BadRequest, NotReady, RetrievalError
from retrieval.knowledge import KnowledgeEntry
from retrieval.router import (
    ENCODER_DIR,
    HEAD_FILE,
    MODEL_FILE,
    OUT_OF_SCOPE,
    RouterConfig,
    encoder_logits,
    in_scope_scores,
    load_saved,
    mean_pool,
    run_layers,
)

BASE_MODEL = "all-MiniLM-L6-v2"


class FrozenEncoder(Protocol):
    """The accurate profile's second encoder (``retrieval/mpnet.py``): texts to unit vectors."""

    @property
    def version(self) -> str: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class RouterReport:
    """What training produced: where, which version, and how the held-out phrasings fared."""

    version: str
    model_dir: Path
    threshold: float
    n_entries: int
    n_phrasings: int
    calibration: dict[str, Any]
    train_s: float


@dataclass(frozen=True)
class Example:
    """One phrasing and the entry it belongs to."""

    text: str
    label: str


@dataclass
class FittedRouter:
    """A trained encoder and head in memory, before it is saved."""

    tokenizer: Any
    encoder: Any
    weight: Any
    bias: Any
    labels: tuple[str, ...]
    max_len: int

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Head scores through the full encoder, exactly as ``TrainedRouter`` computes them."""
        self.encoder.eval()
        return encoder_logits(self.tokenizer, self.encoder, self.weight, self.bias, list(texts),
                              self.max_len)


def router_version(entries: Sequence[KnowledgeEntry], config: RouterConfig) -> str:
    """Hash of what routing depends on: ids, phrasings, config (profile included) and base model."""
    payload: dict[str, Any] = {
        "base": BASE_MODEL,
        "config": config.to_json(),
        "entries": [[e.id, list(e.questions)] for e in entries],
    }
    if config.profile == "accurate":
        from retrieval.mpnet import MPNET
        from retrieval.router_ensemble import METHOD

        payload["second"] = {"model": MPNET, "method": METHOD}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def is_current(model_dir: Path, entries: Sequence[KnowledgeEntry], profile: str | None = None) -> bool:
    """Whether the router under ``model_dir`` was trained on exactly these entries (and, when
    ``profile`` is given, for that profile)."""
    try:
        saved = load_saved(Path(model_dir))
        trained = RouterConfig(**saved.config)
    except (NotReady, TypeError):
        return False
    return profile in (None, trained.profile) and saved.version == router_version(entries, trained)


def train_router(
    entries: list[KnowledgeEntry],
    out_dir: Path,
    *,
    config: RouterConfig = RouterConfig(),  # noqa: B008 - frozen, so a shared default is safe
    progress: bool = True,
    second: FrozenEncoder | None = None,
) -> RouterReport:
    """Fit, calibrate on held-out phrasings, refit, and save the router under ``out_dir``.

    The accurate profile needs ``second``, the frozen encoder its head is fit on.
    """
    _check(entries)
    _check_out_dir(Path(out_dir))
    if config.profile == "accurate" and second is None:
        raise BadRequest("the accurate router profile needs its second encoder (all-mpnet-base-v2)")
    if config.profile not in ("fast", "accurate"):
        raise BadRequest(f"unknown router profile {config.profile!r}: fast or accurate")
    started = time.perf_counter()
    heads = None
    with _torch_threads(config.threads):
        kept, held = split_holdout(entries, config.holdout_fraction, config.seed)
        first = fit(kept, config, progress=progress, desc="router: calibration fit")
        # The held-out phrasings' logits, once: both calibrations read them.
        held_logits = first.logits([x.text for x in held]) if held else None
        calibration = calibrate(first, held, config.keep_rate, held_logits)
        if second is not None and config.profile == "accurate":
            calibration, heads = calibrate_ensemble(first, kept, held, entries, second, config, calibration,
                                                    held_logits)
        final = fit(entries, config, progress=progress, desc="router: final fit") if config.refit else first
    version = router_version(entries, config)
    save_router(final, out_dir, version, config, calibration, extra=heads)
    return RouterReport(
        version=version,
        model_dir=out_dir,
        threshold=calibration["threshold"],
        n_entries=len(entries),
        n_phrasings=sum(len(e.questions) for e in entries),
        calibration=calibration,
        train_s=time.perf_counter() - started,
    )


def _check(entries: Sequence[KnowledgeEntry]) -> None:
    in_scope = [e for e in entries if e.id != OUT_OF_SCOPE]
    if not in_scope or len(entries) < 2:
        raise BadRequest("the router needs at least one in-scope entry and two entries in all")


def _check_out_dir(out_dir: Path) -> None:
    # Only an earlier router (or nothing) may be replaced: never wipe an unrelated folder.
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MODEL_FILE).is_file():
        raise BadRequest(f"{out_dir} exists and is not a router folder; pick another out_dir")


@contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def split_holdout(
    entries: Sequence[KnowledgeEntry], fraction: float, seed: int
) -> tuple[list[KnowledgeEntry], list[Example]]:
    """Leave ``fraction`` of each entry's phrasings out (never its last two) for calibration."""
    rng = np.random.default_rng(seed)
    kept: list[KnowledgeEntry] = []
    held: list[Example] = []
    for entry in entries:
        n = len(entry.questions)
        k = min(max(1, round(n * fraction)), n - 2) if n >= 3 and fraction > 0 else 0
        out = set(rng.permutation(n)[:k].tolist())
        kept.append(KnowledgeEntry(entry.id, tuple(q for i, q in enumerate(entry.questions)
                                                   if i not in out), entry.answer))
        held.extend(Example(entry.questions[i], entry.id) for i in sorted(out))
    return kept, held


def calibrate(
    model: FittedRouter, held: Sequence[Example], keep_rate: float, logits: np.ndarray | None = None
) -> dict[str, Any]:
    """Pick the decline threshold on held-out phrasings (``logits``: theirs, when already computed)
    and report how they fare at it."""
    if not held:
        return {"threshold": 0.0, "rule": "no held-out phrasings: never decline below the OOS class"}
    if logits is None:
        logits = model.logits([x.text for x in held])
    probs, score, columns = in_scope_scores(logits, model.labels)
    return calibrate_scores(model.labels, probs, score, columns, held, keep_rate)


def calibrate_ensemble(
    first: FittedRouter,
    kept: Sequence[KnowledgeEntry],
    held: Sequence[Example],
    entries: Sequence[KnowledgeEntry],
    second: FrozenEncoder,
    config: RouterConfig,
    minilm: dict[str, Any],
    held_logits: np.ndarray | None = None,
) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """The accurate profile's calibration, and its mpnet head fit on every phrasing.

    A head fit on the kept phrasings (its neighbours among them) scores the held-out ones beside
    the calibration fit; the scales and the threshold come from those rows (``router_ensemble``).
    """
    from retrieval.router_ensemble import HEAD_FILE as MPNET_HEAD
    from retrieval.router_ensemble import MpnetHead, bank_of, ensemble_scores, fit_head, scale_of, skip_above

    labels = first.labels
    texts = sorted({q for e in entries for q in e.questions})
    started = time.perf_counter()
    vectors = dict(zip(texts, second.encode(texts), strict=True))
    encode_s = time.perf_counter() - started

    column = {label: i for i, label in enumerate(labels)}

    def rows(part: Sequence[KnowledgeEntry]) -> tuple[np.ndarray, np.ndarray]:
        pairs = [(vectors[q], column[e.id]) for e in part for q in e.questions]
        return np.stack([v for v, _ in pairs]), np.array([y for _, y in pairs])

    def head(part: Sequence[KnowledgeEntry]) -> MpnetHead:
        """Softmax head on ``part``'s phrasings; neighbours among its in-scope ones."""
        inside = [vectors[q] for e in part if e.id != OUT_OF_SCOPE for q in e.questions]
        bank = bank_of(np.stack(inside)) if inside else np.zeros((0, vectors[texts[0]].shape[0]))
        return MpnetHead(*fit_head(*rows(part), len(labels), config.seed), bank)

    if held:
        held_texts = [x.text for x in held]
        minilm_logits = held_logits if held_logits is not None else first.logits(held_texts)
        # The kept phrasings' head is fit only when there are held-out rows for it to score.
        mpnet_logits, neighbours = head(kept).score(np.stack([vectors[t] for t in held_texts]))
        scale = scale_of(minilm_logits, mpnet_logits, labels, neighbours)
        probs, score, columns = ensemble_scores(minilm_logits, mpnet_logits, labels, scale, neighbours)
        calibration = calibrate_scores(labels, probs, score, columns, held, config.keep_rate)
        skip = skip_above(minilm_logits, mpnet_logits, labels, scale, calibration["threshold"],
                          minilm["threshold"], neighbours)
        scale = replace(scale, skip_above=skip)
        calibration["held_out_skipped"] = _share((in_scope_scores(minilm_logits, labels)[1] >= skip).sum(),
                                                 len(held))
    else:
        scale_json = {"minilm_sd": 1.0, "mpnet_sd": 1.0}
        calibration = {"threshold": 0.0, "rule": "no held-out phrasings: never decline below the OOS class"}
    calibration["ensemble"] = scale.to_json() if held else scale_json
    calibration["second_encoder"] = second.version
    calibration["second_encode_s"] = round(encode_s, 1)
    calibration["minilm_alone"] = minilm
    return calibration, {MPNET_HEAD: head(entries).arrays()}


def calibrate_scores(
    labels: Sequence[str], probs: np.ndarray, score: np.ndarray, columns: np.ndarray,
    held: Sequence[Example], keep_rate: float,
) -> dict[str, Any]:
    """The threshold over held-out rows' answer scores (``in_scope_scores`` form), and how they fare."""
    in_scope = [x for x in held if x.label != OUT_OF_SCOPE]
    oos = [x for x in held if x.label == OUT_OF_SCOPE]
    top = [labels[c] for c in columns[probs.argmax(axis=1)]]
    is_oos = np.array([x.label == OUT_OF_SCOPE for x in held])
    right = np.array([t == x.label for t, x in zip(top, held, strict=True)]) & ~is_oos
    threshold = keep_threshold(score[right], keep_rate)
    answered = score >= threshold
    return {
        "threshold": threshold,
        "rule": f"answer >= {keep_rate:.1%} of the held-out in-scope phrasings routed right",
        "keep_rate": keep_rate,
        "held_out_in_scope": len(in_scope),
        "held_out_oos": len(oos),
        "held_out_accuracy": _share(right.sum(), len(in_scope)),
        "held_out_accuracy_at_threshold": _share((right & answered).sum(), len(in_scope)),
        "held_out_oos_recall": _share((is_oos & ~answered).sum(), len(oos)),
    }


def keep_threshold(scores: np.ndarray, keep_rate: float) -> float:
    """The largest threshold that keeps at least ``keep_rate`` of ``scores`` at or above it."""
    if len(scores) == 0:
        return 0.0
    ordered = np.sort(scores)
    dropped = math.floor((1.0 - keep_rate) * len(ordered) + 1e-9)
    return float(ordered[min(dropped, len(ordered) - 1)])


def _share(num: Any, den: int) -> float | None:
    return float(num) / den if den else None


def fit(
    entries: Sequence[KnowledgeEntry], config: RouterConfig, *, progress: bool, desc: str
) -> FittedRouter:
    """Fine-tune the top encoder layers and a softmax head on ``entries``."""
    import torch

    torch.manual_seed(config.seed)
    tokenizer, encoder = _load_base()
    labels = tuple(e.id for e in entries)
    examples = [Example(q, e.id) for e in entries for q in e.questions]
    y = torch.tensor([labels.index(x.label) for x in examples])
    frozen = min(config.frozen_layers, len(encoder.encoder.layer))
    cache = _lower_states(tokenizer, encoder, [x.text for x in examples], frozen, config.max_seq_length)
    head = torch.nn.Linear(encoder.config.hidden_size, len(labels))
    top_layers = encoder.encoder.layer[frozen:]
    optimiser = torch.optim.AdamW(
        [{"params": top_layers.parameters(), "lr": config.encoder_lr},
         {"params": head.parameters(), "lr": config.head_lr}],
        weight_decay=config.weight_decay,
    )
    steps = max(config.min_steps, math.ceil(config.epochs * len(examples) / config.batch_size))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, _warmup_linear(steps, config.warmup))
    top_layers.train()
    rng = np.random.default_rng(config.seed)
    from tqdm import tqdm

    with tqdm(total=steps, desc=desc, disable=not progress) as bar:
        for step, batch in zip(range(steps), _batches(cache, config.batch_size, rng), strict=False):
            hidden, mask = _collate(cache, batch)
            pooled = mean_pool(run_layers(top_layers, hidden, mask), mask)
            loss = torch.nn.functional.cross_entropy(head(pooled), y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
    encoder.eval()
    return FittedRouter(tokenizer, encoder, head.weight.detach().clone(), head.bias.detach().clone(),
                        labels, config.max_seq_length)


def _load_base() -> tuple[Any, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    from retrieval.embeddings import bundled_model_path

    try:
        path = str(bundled_model_path())
        return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise RetrievalError(f"cannot load the base encoder {BASE_MODEL}: {err}") from err


def lower_states(tokenizer: Any, encoder: Any, texts: Sequence[str], frozen: int, max_len: int) -> Any:
    """Token states after the embeddings and the bottom ``frozen`` layers, padded."""
    import torch

    with torch.inference_mode():
        batch = tokenizer(list(texts), padding=True, truncation=True, max_length=max_len,
                          return_tensors="pt")
        hidden = encoder.embeddings(input_ids=batch["input_ids"])
        return run_layers(encoder.encoder.layer[:frozen], hidden, batch["attention_mask"]), batch[
            "attention_mask"]


def _lower_states(tokenizer: Any, encoder: Any, texts: list[str], frozen: int, max_len: int) -> list[Any]:
    encoder.eval()
    order = np.argsort([len(t) for t in texts], kind="stable")
    cache: list[Any] = [None] * len(texts)
    # Length-sorted chunks keep the padding (and the wasted compute) small.
    for start in range(0, len(texts), 256):
        rows = order[start : start + 256]
        hidden, mask = lower_states(tokenizer, encoder, [texts[i] for i in rows], frozen, max_len)
        for k, i in enumerate(rows):
            cache[i] = hidden[k, : int(mask[k].sum())].clone()
    return cache


def _batches(cache: list[Any], size: int, rng: np.random.Generator) -> Iterator[list[int]]:
    """Endless shuffled batches of phrasings of similar length."""
    while True:
        order = rng.permutation(len(cache))
        span = size * 50
        batches: list[list[int]] = []
        for start in range(0, len(order), span):
            chunk = sorted(order[start : start + span].tolist(), key=lambda i: cache[i].shape[0])
            batches.extend(chunk[k : k + size] for k in range(0, len(chunk), size))
        for b in rng.permutation(len(batches)):
            yield batches[b]


def _collate(cache: list[Any], rows: list[int]) -> tuple[Any, Any]:
    import torch

    length = max(cache[i].shape[0] for i in rows)
    hidden = torch.zeros(len(rows), length, cache[rows[0]].shape[1])
    mask = torch.zeros(len(rows), length, dtype=torch.long)
    for k, i in enumerate(rows):
        n = cache[i].shape[0]
        hidden[k, :n] = cache[i]
        mask[k, :n] = 1
    return hidden, mask


def _warmup_linear(steps: int, warmup: float) -> Any:
    ramp = max(1.0, warmup * steps)
    return lambda s: min(1.0, (s + 1) / ramp) * max(0.0, (steps - s) / steps)


def save_router(
    model: FittedRouter, out_dir: Path, version: str, config: RouterConfig, calibration: dict[str, Any],
    extra: dict[str, dict[str, np.ndarray]] | None = None,
) -> None:
    """Write encoder, head(s) and ``router.json``; the old router is replaced only when all is written.

    ``extra`` maps further file names to arrays (the accurate profile's mpnet head).
    """
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    staging = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.encoder.save_pretrained(staging / ENCODER_DIR)
    model.tokenizer.save_pretrained(staging / ENCODER_DIR)
    np.savez(staging / HEAD_FILE, weight=model.weight.numpy(), bias=model.bias.numpy())
    for name, arrays in (extra or {}).items():
        np.savez(staging / name, **arrays)  # type: ignore[arg-type]
    meta = {"version": version, "labels": list(model.labels), "threshold": calibration["threshold"],
            "config": config.to_json(), "calibration": calibration}
    (staging / MODEL_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
