"""Train the shop's own small GPT-2 (and its byte-level BPE tokenizer) at setup time.

The output is an ordinary Hugging Face checkpoint directory, loadable with
``GPT2LMHeadModel.from_pretrained`` and ``AutoTokenizer.from_pretrained`` exactly like the
real ``gpt2``, plus ``shopbot_generator.json`` describing the run.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import mean

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from tqdm import tqdm
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

# transformers 5 keeps this name only as a runtime alias of GPT2Tokenizer; 4.x has the class.
from transformers import GPT2TokenizerFast  # type: ignore[attr-defined]  # isort: skip

from bot.generation.prompt import END_TOKEN, PAD_TOKEN, split_document
from bot.generation.versions import META_FILE

IGNORE = -100
# Training re-measures its pace every _WINDOW steps and re-tries the other thread count
# every _RECHECK_EVERY windows, since other processes come and go.
_WINDOW = 10
_RECHECK_EVERY = 10


@dataclass(frozen=True)
class TrainConfig:
    """Tokenizer, model and optimiser settings; all of them enter the checkpoint version.

    Defaults were chosen by measurement on the 2-core dev machine with a 6,400-document
    corpus: about 1,400 steps fit the time budget (final answer loss ~0.22) and copy names
    and prices from the context; a 192-wide model managed only ~300 steps when another
    process shared the CPU and had not yet learnt to copy. The number of steps actually run
    depends on the machine's pace, so weights are reproducible only on an equally fast one.
    """

    vocab_size: int = 6000
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    n_positions: int = 256
    steps: int = 1500
    batch_size: int = 16
    learning_rate: float = 3e-3
    warmup_steps: int = 40
    weight_decay: float = 0.01
    seed: int = 0
    # A slow or busy machine runs fewer steps (the report says how many) to stay within it.
    max_seconds: float = 160.0

    @classmethod
    def tiny(cls) -> TrainConfig:
        """A model that trains in a few seconds, for tests."""
        return cls(vocab_size=400, n_layer=2, n_head=2, n_embd=64, steps=80, batch_size=8,
                   learning_rate=5e-3, warmup_steps=5, max_seconds=60.0)


@dataclass(frozen=True)
class TrainReport:
    """What a training run produced."""

    out_dir: Path
    version: str
    steps: int
    final_loss: float
    train_seconds: float
    documents: int
    parameters: int
    reused: bool = False


def corpus_version(corpus: Sequence[str], config: TrainConfig) -> str:
    """Hash of the corpus and the config: equal inputs give an equal version."""
    digest = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode())
    for doc in corpus:
        digest.update(doc.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def saved_report(out_dir: Path) -> TrainReport | None:
    """The report stored with a checkpoint, if it is one of ours."""
    try:
        meta = json.loads((out_dir / META_FILE).read_text(encoding="utf-8"))
        return TrainReport(out_dir, meta["version"], meta["steps"], meta["final_loss"],
                           meta["train_seconds"], meta["documents"], meta["parameters"], True)
    except (OSError, ValueError, KeyError):
        return None


def train_generator(
    corpus: list[str],
    out_dir: Path,
    *,
    config: TrainConfig = TrainConfig(),
    progress: bool = True,
    force: bool = False,
) -> TrainReport:
    """Train tokenizer and model on ``corpus`` and save them to ``out_dir``.

    Skipped (the saved report is returned) when ``out_dir`` already holds a checkpoint of the
    same version, unless ``force``.
    """
    if not corpus:
        raise ValueError("cannot train a generator on an empty corpus")
    version = corpus_version(corpus, config)
    previous = saved_report(out_dir)
    if previous is not None and previous.version == version and not force:
        return previous
    with _torch_threads():
        started = time.perf_counter()
        torch.manual_seed(config.seed)
        tokenizer = train_tokenizer(corpus, config.vocab_size, config.n_positions)
        rows = encode_documents(tokenizer, corpus, config.n_positions)
        model = GPT2LMHeadModel(_model_config(tokenizer, config))
        steps, loss = _fit(model, rows, tokenizer.pad_token_id, config, progress)
        seconds = time.perf_counter() - started
    parameters = sum(p.numel() for p in model.parameters())
    report = TrainReport(out_dir, version, steps, loss, round(seconds, 1), len(corpus), parameters)
    _save(model, tokenizer, report)
    return report


def train_tokenizer(
    corpus: Sequence[str], vocab_size: int, max_length: int
) -> PreTrainedTokenizerFast:
    """A GPT-2-style byte-level BPE tokenizer with end-of-text and pad tokens.

    Saved under GPT-2's own tokenizer class, so loading it needs nothing beyond what the
    real ``gpt2`` checkpoint needs.
    """
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=[END_TOKEN, PAD_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    backend.train_from_iterator((doc.replace(END_TOKEN, "") for doc in corpus), trainer)
    return GPT2TokenizerFast(
        tokenizer_object=backend, bos_token=END_TOKEN, eos_token=END_TOKEN,
        unk_token=END_TOKEN, pad_token=PAD_TOKEN, model_max_length=max_length,
    )


def encode_documents(
    tokenizer: PreTrainedTokenizerFast, corpus: Sequence[str], max_len: int
) -> list[tuple[list[int], list[int]]]:
    """Token ids and labels per document; only the answer (and its end token) is learnt."""
    prompts, answers = zip(*(split_document(doc) for doc in corpus), strict=True)
    prompt_ids = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(list(answers), add_special_tokens=False)["input_ids"]
    rows = []
    for p, a in zip(prompt_ids, answer_ids, strict=True):
        if len(p) + len(a) <= max_len:
            rows.append((p + a, [IGNORE] * len(p) + a))
    if not rows:
        raise ValueError(f"every document is longer than n_positions={max_len} tokens")
    return rows


def _model_config(tokenizer: PreTrainedTokenizerFast, config: TrainConfig) -> GPT2Config:
    end_id = tokenizer.convert_tokens_to_ids(END_TOKEN)
    assert isinstance(end_id, int)
    # No dropout: a few hundred steps on a small corpus underfit rather than overfit.
    return GPT2Config(
        vocab_size=len(tokenizer), n_positions=config.n_positions, n_embd=config.n_embd,
        n_layer=config.n_layer, n_head=config.n_head, resid_pdrop=0.0, embd_pdrop=0.0,
        attn_pdrop=0.0, bos_token_id=end_id, eos_token_id=end_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def _fit(
    model: GPT2LMHeadModel,
    rows: list[tuple[list[int], list[int]]],
    pad_id: int,
    config: TrainConfig,
    progress: bool,
) -> tuple[int, float]:
    """Plain AdamW loop with warm-up and cosine decay; returns (steps done, smoothed loss)."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    plan = _Plan(config, tokens_per_step=config.batch_size * mean(len(ids) for ids, _ in rows))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: _lr_factor(s, plan.steps, config.warmup_steps))
    batches = _batches(rows, pad_id, config)
    smoothed = math.nan
    done = 0
    with tqdm(total=config.steps, desc="training generator", disable=not progress) as bar:
        while done < plan.steps and not plan.out_of_time():
            batch = next(batches)
            loss = answer_loss(model, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            value = float(loss.detach())
            smoothed = value if math.isnan(smoothed) else 0.9 * smoothed + 0.1 * value
            done += 1
            bar.total = plan.record(done, batch["input_ids"].numel())
            bar.set_postfix(loss=f"{smoothed:.3f}", threads=torch.get_num_threads())
            bar.update(1)
    model.eval()
    return done, round(smoothed, 4)


class _Plan:
    """How many steps fit the time budget, from the measured seconds per token.

    A slow or busy machine gets a shorter plan (so the learning-rate schedule still finishes
    its decay instead of being cut off) and the thread count that measures fastest.
    """

    def __init__(self, config: TrainConfig, tokens_per_step: float) -> None:
        self.steps = config.steps
        self._config = config
        self._tokens_per_step = tokens_per_step
        self._threads = _ThreadChoice(len(os.sched_getaffinity(0)))
        self._started = self._mark = time.perf_counter()
        self._mark_done = 0
        self._tokens = 0

    def out_of_time(self) -> bool:
        return time.perf_counter() - self._started >= self._config.max_seconds

    def record(self, done: int, tokens: int) -> int:
        """Account one finished step; returns the (possibly revised) planned step count."""
        self._tokens += tokens
        if done - self._mark_done < _WINDOW:
            return self.steps
        now = time.perf_counter()
        self._threads.record((now - self._mark) / self._tokens, window=done // _WINDOW)
        left = self._config.max_seconds - (now - self._started)
        affordable = int(left / (self._threads.best_pace() * self._tokens_per_step))
        self.steps = min(self._config.steps, done + max(1, affordable))
        self._mark, self._mark_done, self._tokens = now, done, 0
        return self.steps


class _ThreadChoice:
    """Torch thread count chosen by measured pace, re-checked now and then.

    All cores is fastest on an idle machine, but next to another busy process two threads
    on two cores measured 4-10x slower per step than one.
    """

    def __init__(self, cores: int) -> None:
        self._options = sorted({cores, 1}, reverse=True)
        self._pace: dict[int, float] = {}
        torch.set_num_threads(self._options[0])

    def record(self, seconds_per_token: float, window: int) -> None:
        self._pace[torch.get_num_threads()] = seconds_per_token
        untried = [n for n in self._options if n not in self._pace]
        best = min(self._pace, key=self._pace.__getitem__)
        if untried:
            choice = untried[0]
        elif window % _RECHECK_EVERY == 0:
            choice = next((n for n in self._options if n != best), best)
        else:
            choice = best
        torch.set_num_threads(choice)

    def best_pace(self) -> float:
        return min(self._pace.values())


def answer_loss(model: GPT2LMHeadModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Next-token loss on answer positions only.

    Projecting just those positions onto the vocabulary (not every prompt token) is most of
    the saving that makes CPU training fit the setup budget; adding the prompt tokens to the
    loss (weight 0.5) was measured slower for no better answers.
    """
    hidden = model.transformer(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
    ).last_hidden_state[:, :-1]
    targets = batch["labels"][:, 1:]
    keep = targets != IGNORE
    return torch.nn.functional.cross_entropy(model.lm_head(hidden[keep]), targets[keep])


def _batches(
    rows: list[tuple[list[int], list[int]]], pad_id: int, config: TrainConfig
) -> Iterator[dict[str, torch.Tensor]]:
    """Endless batches of similar-length rows (little padding), in a seeded random order."""
    order = torch.Generator().manual_seed(config.seed)
    by_length = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))
    size = config.batch_size
    groups = [by_length[i : i + size] for i in range(0, len(by_length), size)]
    while True:
        for g in torch.randperm(len(groups), generator=order).tolist():
            yield _batch([rows[i] for i in groups[g]], pad_id)


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _batch(rows: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (row_ids, row_labels) in enumerate(rows):
        ids[i, : len(row_ids)] = torch.tensor(row_ids)
        labels[i, : len(row_labels)] = torch.tensor(row_labels)
        mask[i, : len(row_ids)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


@contextmanager
def _torch_threads() -> Iterator[None]:
    """Restore the process's torch thread count after training has tuned it."""
    before = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _save(model: GPT2LMHeadModel, tokenizer: PreTrainedTokenizerFast, report: TrainReport) -> None:
    """Write into a sibling temp dir, then swap it in, so readers never see half a checkpoint."""
    out_dir = report.out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        meta = {k: v for k, v in asdict(report).items() if k not in ("out_dir", "reused")}
        (staging / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
