"""Generation off the event loop, with a time limit and a canned fallback."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from core.errors import GenerationError


@dataclass(frozen=True)
class Generation:
    """One generated answer and what it cost (from either GPT-2 path)."""

    text: str
    prompt_tokens: int
    new_tokens: int
    elapsed_ms: float
    timed_out: bool


class Generator(Protocol):
    """A grounded answer generator (the shop's small GPT-2 or any GPT-2 checkpoint)."""

    @property
    def version(self) -> str: ...

    def warm_up(self) -> None: ...

    def run(self, question: str, passages: Sequence[str], *, max_time_s: float,
            copy_bias: float = 0.0) -> Generation: ...


@dataclass(frozen=True)
class GeneratedAnswer:
    """The answer text, or None when generation failed or ran out of time."""

    text: str | None
    error: str | None = None


class GenerationService:
    """Runs one generation at a time on its own thread so retrieval keeps flowing meanwhile."""

    def __init__(self, generator: Generator, timeout_s: float) -> None:
        self.generator = generator
        self.timeout_s = timeout_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")

    async def warm_up(self) -> None:
        """Load the model on the generation thread."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self.generator.warm_up)

    def swap(self, generator: Generator) -> None:
        """Generate with ``generator`` (already warmed up) from the next answer on.

        An answer being generated finishes on the generator it started with.
        """
        self.generator = generator

    async def answer(self, question: str, passages: Sequence[str], *,
                     copy_bias: float = 0.0) -> GeneratedAnswer:
        """Generate within the time limit; failures become ``GeneratedAnswer(None, reason)``.

        ``copy_bias``: how strongly decoding favours copying spans of the passages
        (``bot.generation.copying``); 0 leaves decoding to the model.
        """
        loop = asyncio.get_running_loop()
        generator = self.generator  # a deploy may swap it while this answer waits for the thread
        call = loop.run_in_executor(
            self._executor,
            lambda: generator.run(question, passages, max_time_s=self.timeout_s, copy_bias=copy_bias),
        )
        try:
            out = await asyncio.wait_for(call, timeout=self.timeout_s + 1.0)
        except TimeoutError:
            return GeneratedAnswer(None, "timeout")
        except GenerationError as err:
            return GeneratedAnswer(None, str(err))
        if out.timed_out or not out.text.strip():
            return GeneratedAnswer(None, "timeout" if out.timed_out else "empty")
        return GeneratedAnswer(out.text.strip())

    def close(self) -> None:
        """Stop the worker thread."""
        self._executor.shutdown(wait=False, cancel_futures=True)
