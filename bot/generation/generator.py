"""Grounded answers from a GPT-2 checkpoint: the shop's own small model or the real ``gpt2``."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoTokenizer,
    GenerationConfig,
    GPT2LMHeadModel,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteriaList,
)
from transformers.generation.stopping_criteria import MaxTimeCriteria

from bot.generation.copying import boundary_ids, copy_targets
from bot.generation.prompt import extract_answer, fit_prompt
from bot.generation.service import Generation
from bot.generation.versions import checkpoint_version
from core.errors import GenerationError, NotReady


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A GPT-2 checkpoint with its tokenizer and what decoding needs to know about them."""

    model: GPT2LMHeadModel
    tokenizer: Any
    stop_ids: tuple[int, ...]
    pad_id: int
    n_positions: int
    end_id: int
    boundaries: frozenset[int]  # passage separators and line breaks, for the copy bias


class Gpt2Generator:
    """Continues the shared prompt format with greedy decoding under a time budget.

    Safe to call from several executor threads: model use is serialised by a lock.
    """

    def __init__(self, model_dir: Path, *, max_new_tokens: int = 60,
                 repetition_penalty: float = 1.3) -> None:
        self._dir = Path(model_dir)
        self._max_new_tokens = max_new_tokens
        self._repetition_penalty = repetition_penalty
        self._lock = threading.Lock()
        self._loaded: LoadedCheckpoint | None = None
        self._version: str | None = None

    def warm_up(self) -> None:
        """Load model and tokenizer once; later calls do nothing."""
        with self._lock:
            if self._loaded is None:
                self._loaded = load_checkpoint(self._dir)

    @property
    def version(self) -> str:
        """Our training version, or a fingerprint of a foreign checkpoint such as ``gpt2``."""
        if self._version is None:
            self._version = checkpoint_version(self._dir)
        return self._version

    def run(self, question: str, passages: Sequence[str], *, max_time_s: float,
            copy_bias: float = 0.0) -> Generation:
        """Answer ``question`` from ``passages``; stops early (``timed_out``) at ``max_time_s``.

        The budget covers waiting for the model, tokenising and decoding; it can be overrun
        by at most one decoding step. ``copy_bias`` > 0 favours copying spans of the context
        (``bot.generation.copying``) and turns the repetition penalty off.
        """
        started = time.time()
        if self._loaded is None:
            self.warm_up()
        waited = time.time() - started
        if not self._lock.acquire(timeout=max(0.0, max_time_s - waited)):
            raise GenerationError(f"generator busy for the whole {max_time_s:.2f}s budget")
        try:
            loaded = self._loaded
            assert loaded is not None
            return self._generate(loaded, question, passages, started, max_time_s, copy_bias)
        except GenerationError:
            raise
        except Exception as err:
            raise GenerationError(f"generation failed: {err}") from err
        finally:
            self._lock.release()

    def _generate(self, loaded: LoadedCheckpoint, question: str, passages: Sequence[str],
                  started: float, max_time_s: float, copy_bias: float) -> Generation:
        max_new = min(self._max_new_tokens, loaded.n_positions // 2)
        prompt_ids = fit_prompt(lambda t: loaded.tokenizer(t, add_special_tokens=False)["input_ids"],
                                question, passages, loaded.n_positions - max_new)
        input_ids = torch.tensor([prompt_ids], dtype=torch.long)
        config = GenerationConfig(
            max_new_tokens=max_new, min_new_tokens=1, do_sample=False,
            eos_token_id=list(loaded.stop_ids), pad_token_id=loaded.pad_id,
        )
        # Copying repeats words by design, so the penalty is off while copying is favoured.
        processors: list[LogitsProcessor] = [
            _CopyBias(prompt_ids, copy_bias, loaded.boundaries, loaded.end_id) if copy_bias > 0
            else _AnswerRepetitionPenalty(len(prompt_ids), self._repetition_penalty)]
        deadline = MaxTimeCriteria(max_time_s, initial_timestamp=started)
        with torch.inference_mode():
            # transformers types generate() with a self-type GPT2LMHeadModel does not match.
            output = loaded.model.generate(  # type: ignore[misc]
                input_ids, attention_mask=torch.ones_like(input_ids), generation_config=config,
                logits_processor=LogitsProcessorList(processors),
                stopping_criteria=StoppingCriteriaList([deadline]),
            )
        new_ids = output[0, len(prompt_ids):].tolist()
        elapsed = time.time() - started
        stopped = bool(new_ids) and new_ids[-1] in loaded.stop_ids
        timed_out = not stopped and len(new_ids) < max_new and elapsed >= max_time_s
        text = extract_answer(loaded.tokenizer.decode(new_ids, skip_special_tokens=True))
        if not text and timed_out:
            raise GenerationError(f"no answer within the {max_time_s:.2f}s time budget")
        if not text:
            raise GenerationError("the generator produced an empty answer")
        return Generation(text, len(prompt_ids), len(new_ids), round(elapsed * 1000, 1), timed_out)


class _AnswerRepetitionPenalty(LogitsProcessor):
    """Repetition penalty over the answer only: copying facts from the prompt is the point."""

    def __init__(self, prompt_len: int, penalty: float) -> None:
        self._prompt_len = prompt_len
        self._penalty = penalty

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        answer = input_ids[:, self._prompt_len:]
        if answer.shape[1] == 0 or self._penalty == 1.0:
            return scores
        seen = scores.gather(1, answer)
        seen = torch.where(seen < 0, seen * self._penalty, seen / self._penalty)
        return scores.scatter(1, answer, seen)  # type: ignore[return-value]


class _CopyBias(LogitsProcessor):
    """Adds ``bias`` to the tokens that continue a span of the prompt (``copy_targets``)."""

    def __init__(self, prompt_ids: list[int], bias: float, boundaries: frozenset[int],
                 end_id: int) -> None:
        self._prompt = prompt_ids
        self._bias = bias
        self._boundaries = boundaries
        self._end_id = end_id

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        answer = input_ids[0, len(self._prompt):].tolist()
        targets = copy_targets(self._prompt, answer, boundaries=self._boundaries, end_id=self._end_id)
        if targets:
            scores = scores.clone()  # type: ignore[assignment]
            scores[:, sorted(targets)] += self._bias
        return scores


def load_checkpoint(model_dir: Path) -> LoadedCheckpoint:
    """A GPT-2 checkpoint and its tokenizer from ``model_dir``, in eval mode."""
    if not (model_dir / "config.json").is_file():
        raise NotReady(f"no generator checkpoint in {model_dir}: run `shopbot setup`")
    try:
        model = GPT2LMHeadModel.from_pretrained(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    except Exception as err:
        raise GenerationError(f"cannot load the generator from {model_dir}: {err}") from err
    model.eval()
    end_id = tokenizer.eos_token_id
    if end_id is None:
        raise GenerationError(f"the tokenizer in {model_dir} has no end-of-text token")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end_id
    pieces = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    # Every token that contains a line break ends the answer: an answer is one line.
    newlines = [i for i, piece in enumerate(pieces) if "\n" in piece]
    return LoadedCheckpoint(model, tokenizer, (end_id, *newlines), pad_id,
                            model.config.n_positions, end_id, boundary_ids(pieces))
