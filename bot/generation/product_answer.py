"""Answer a question about the product the shopper named, from that product's facts only.

The facts (``Product.fact_sentences``) decide *what* is said; GPT-2 may only decide *how*.
The generator gets the one fact sentence that answers the question plus the product's
evidence passage, and its wording is kept only if a verifier finds nothing in it that the
evidence does not hold: the product's exact name, no number or price the evidence lacks, and
its content words drawn from the evidence. Otherwise the fact sentence itself is the answer.
A question the facts cannot answer ("is it dishwasher safe?") is never guessed at: the
shopper is told so, shown the product and offered a person.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from bot.generation.service import GenerationService
from core.messages import BotMessage, Button
from core.shop import Product
from monitoring.flags import grounding

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
# The verifier's bar: the share of the answer's content words found in the evidence.
MIN_SUPPORT = 0.9


@dataclass(frozen=True)
class ProductReply:
    """What the bot says about one product, and on what evidence."""

    messages: tuple[BotMessage, ...]
    evidence: str
    known: bool  # the facts answer the question
    generated: bool  # GPT-2's wording passed the verifier and was used
    grounding: float
    generate_ms: float


def unsupported_claims(answer: str, evidence: str) -> list[str]:
    """Numbers and prices in ``answer`` that ``evidence`` does not hold."""
    return [n for n in _NUMBER.findall(answer) if n not in evidence]


def verified(answer: str, evidence: str, product: Product) -> bool:
    """Whether a generated answer says only what the evidence holds, about this product."""
    return (product.name.lower() in answer.lower()
            and not unsupported_claims(answer, evidence)
            and grounding(answer, [evidence]) >= MIN_SUPPORT)


def card(product: Product) -> BotMessage:
    """The product's card, as the products route shows it."""
    return BotMessage(custom={"type": "products", "products": [product.card()]})


def known_answer(product: Product, aspect: str | None) -> str:
    """The fact sentence(s) that answer ``aspect`` of ``product``; empty when the facts cannot."""
    facts = product.fact_sentences()
    if aspect == "overview":
        return " ".join(facts[a] for a in ("category", "price", "popularity") if a in facts)
    return facts.get(aspect or "", "")


async def answer_about(product: Product, aspect: str | None, question: str,
                       generation: GenerationService) -> ProductReply:
    """The reply to ``question`` about ``product`` (``aspect`` from ``bot.dialogue.nlu``)."""
    evidence = product.evidence()
    known = known_answer(product, aspect)
    if not known:
        text = (f"Our product details for the {product.name} don't answer that, so I won't guess. "
                f"{product.fact_sentences()['price']} Would you like me to ask a person from our team?")
        messages = (BotMessage(text=text, buttons=(Button("Ask a person", "/handoff"),)), card(product))
        return ProductReply(messages, evidence, False, False, 1.0, 0.0)
    start = time.perf_counter()
    generated = await generation.answer(question, (known, evidence))
    generate_ms = (time.perf_counter() - start) * 1000
    use = generated.text is not None and verified(generated.text, evidence, product)
    text = generated.text if use and generated.text is not None else known
    return ProductReply((BotMessage(text=text), card(product)), evidence, True, use,
                        grounding(text, [evidence]), generate_ms)
