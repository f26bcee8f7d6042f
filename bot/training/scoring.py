"""How likely a GPT-2 checkpoint finds known-good answers: its loss per answer token.

The generator gate's second measure. The verifier keeps a draft only when it is faithful, so
the kept share ties at the extremes (two checkpoints that never start the fact both keep none).
The loss of the reference answers (teacher-forced, in the prompt format the generator was
trained on) still tells them apart: a checkpoint that has learnt less, or learnt the wrong
thing, finds them less likely.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch

from bot.generation.generator import load_checkpoint
from bot.generation.prompt import END_TOKEN, clean, fit_prompt


def answer_loss(model_dir: Path, items: Sequence[tuple[str, Sequence[str], str]]) -> float:
    """Mean negative log-likelihood per answer token (nats) of ``(question, passages, answer)``."""
    loaded = load_checkpoint(model_dir)

    def encode(text: str) -> list[int]:
        return list(loaded.tokenizer(text, add_special_tokens=False)["input_ids"])

    total, tokens = 0.0, 0
    with torch.no_grad():
        for question, passages, answer in items:
            target = encode(f" {clean(answer)}{END_TOKEN}")
            prompt = fit_prompt(encode, question, passages, loaded.n_positions - len(target))
            ids = torch.tensor([prompt + target], dtype=torch.long)
            logits = loaded.model(ids).logits[0, len(prompt) - 1:-1]
            losses = torch.nn.functional.cross_entropy(logits, ids[0, len(prompt):], reduction="sum")
            total += float(losses)
            tokens += len(target)
    if not tokens:
        raise ValueError("no answer tokens to score")
    loss = total / tokens
    return loss if math.isfinite(loss) else float("inf")
