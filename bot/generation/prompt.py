"""The one prompt format shared by the training corpus and the generator.

A document is ``Context: <p1> | <p2>\\nQuestion: <q>\\nAnswer: <answer><|endoftext|>``; the
generator is given everything up to ``Answer:`` and continues it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

# GPT-2's own end-of-text token, so a real ``gpt2`` checkpoint stops on it too.
END_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
PASSAGE_SEPARATOR = " | "
ANSWER_MARKER = "\nAnswer:"

_WHITESPACE = re.compile(r"\s+")


def clean(text: str) -> str:
    """Collapse whitespace (newlines included) so a field never breaks the line format."""
    return _WHITESPACE.sub(" ", text.replace(END_TOKEN, " ")).strip()


def format_context(passages: Sequence[str]) -> str:
    """Join passages into the single context line."""
    return PASSAGE_SEPARATOR.join(p for p in (clean(p) for p in passages) if p)


def build_prompt(question: str, passages: Sequence[str]) -> str:
    """The text the generator continues: context, question, then ``Answer:``."""
    return f"Context: {format_context(passages)}\nQuestion: {clean(question)}{ANSWER_MARKER}"


def build_document(question: str, passages: Sequence[str], answer: str) -> str:
    """A training document: the prompt followed by the answer and the end token."""
    return f"{build_prompt(question, passages)} {clean(answer)}{END_TOKEN}"


def split_document(document: str) -> tuple[str, str]:
    """Split a training document into its prompt and its completion (answer plus end token)."""
    cut = document.rfind(ANSWER_MARKER)
    if cut < 0:
        raise ValueError("not a prompt-format document: no 'Answer:' line")
    cut += len(ANSWER_MARKER)
    return document[:cut], document[cut:]


def extract_answer(generated: str) -> str:
    """The answer in a continuation: cut at the end token or the first line break."""
    answer = generated.split(END_TOKEN, 1)[0].lstrip(" ")
    return answer.split("\n", 1)[0].strip()


def fit_prompt(encode: Callable[[str], list[int]], question: str, passages: Sequence[str],
               budget: int) -> list[int]:
    """Prompt token ids within ``budget``: drop the lowest-ranked passages, then cut the left."""
    kept = list(passages)
    while True:
        ids = encode(build_prompt(question, kept))
        if len(ids) <= budget or len(kept) <= 1:
            return ids[-budget:]
        kept.pop()
