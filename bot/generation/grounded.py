"""GPT-2's answer from the top product passages, sent only when every claim in it is theirs.

The generate route's answer to a question that names no product exactly: GPT-2 drafts an
answer from the evidence passages of the products the search found, and
``bot.generation.verifier.verify`` reads every claim in the draft (product names, prices and
other numbers, colours, materials, countries, what it is bought with) against them. A draft
with any claim the passages do not state is withheld: the shopper is told the bot is not sure
and shown what it can do instead (``bot.engine.replies.not_sure``), the turn is flagged
``ungrounded`` through its grounding score (0.0), and the draft is kept for auditors only.
docs/quality.md ("Generated answers: verified or withheld") measures the rule.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from bot.generation.service import GenerationService
from bot.generation.verifier import verify


@dataclass(frozen=True)
class GroundedAnswer:
    """A draft and the verifier's verdict on it: ``text`` is what may be sent, or None."""

    text: str | None  # the verified draft; None when it was withheld or generation failed
    draft: str | None  # what GPT-2 wrote; None when generation failed
    verified: bool
    grounding: float | None  # the verifier's score (0.0 when withheld); None when nothing was generated
    evidence: tuple[str, ...]  # the passages the draft was checked against
    unsupported: tuple[str, ...]  # the claims the passages do not state
    error: str | None  # why generation failed
    generate_ms: float

    @property
    def withheld(self) -> str | None:
        """The draft the verifier refused (kept for auditors, never sent), else None."""
        return self.draft if self.draft is not None and not self.verified else None


async def grounded_answer(question: str, passages: Sequence[str],
                          generation: GenerationService) -> GroundedAnswer:
    """GPT-2's answer to ``question`` from ``passages``, verified against them."""
    evidence = tuple(passages)
    start = time.perf_counter()
    generated = await generation.answer(question, evidence)
    generate_ms = (time.perf_counter() - start) * 1000
    if generated.text is None:
        return GroundedAnswer(None, None, False, None, evidence, (), generated.error, generate_ms)
    verdict = verify(generated.text, evidence, question)
    return GroundedAnswer(generated.text if verdict.verified else None, generated.text, verdict.verified,
                          verdict.grounding, evidence, verdict.unsupported, None, generate_ms)
