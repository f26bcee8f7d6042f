"""Answer a question about the product the shopper named, from that product's facts only.

The facts (``Product.fact_sentences``) decide *what* is said; GPT-2 may only decide *how*.
The generator gets the one fact sentence that answers the question plus the product's
evidence passage, and its wording is kept only if a verifier finds that it says that fact,
all of it and nothing else: the product's exact name, exactly the fact's numbers, the fact's
content words, and every claim one the evidence states (``bot.generation.verifier``, the
verifier of every generated answer). Otherwise the fact sentence itself is the answer.
A question the facts cannot answer ("is it dishwasher safe?") is never guessed at: the
shopper is told so, shown the product and offered a person.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bot.generation.service import GenerationService
from bot.generation.verifier import numbers, unsupported_claims, verify
from core.messages import BotMessage, Button
from core.shop import Product, money
from core.variants import variant_answer
from monitoring.flags import grounding

# numbers and unsupported_claims are the verifier's; importers of this module keep them here.
__all__ = ["ProductReply", "answer_about", "card", "known_answer", "numbers", "unsupported_claims",
           "verified"]
# The verifier's bars: the share of the draft's content words found in the evidence, and of
# the fact's content words found in the draft.
MIN_SUPPORT = 0.9
MIN_COVERAGE = 0.9
# How strongly decoding favours copying the context (bot.generation.copying), in logits.
# Chosen on the development questions (product_questions_dev.jsonl, bench/copy_bias.py): with
# the fact-trained GPT-2, 6 kept 53 of its 70 answerable drafts, 10 and 20 kept all 70; 10
# leaves the model more say.
COPY_BIAS = 10.0
# Aspects answered in the facts' own words, never a generator's: "in stock" and "out of stock"
# differ by one word the verifier's word overlap would let through.
EXACT = frozenset({"stock", "variant"})
# Aspects a product's variants answer (the products sharing its item_group_id).
OF_VARIANTS = frozenset({"variant", "colour"})
_CURRENCY = re.compile(r"[£$€]")
# "add it to my basket": the chat cannot change a basket; the answer says where to.
BASKET = "basket"


@dataclass(frozen=True)
class ProductReply:
    """What the bot says about one product, and on what evidence."""

    messages: tuple[BotMessage, ...]
    evidence: str
    known: bool  # the facts answer the question
    generated: bool  # GPT-2's wording passed the verifier and was used
    grounding: float
    generate_ms: float
    # The product in focus after the answer: the variant it offered ("yes, it comes in blue").
    focus: Product | None = None


def verified(answer: str, fact: str, evidence: str, product: Product) -> bool:
    """Whether a draft words ``fact`` about this product: all of it, and nothing else.

    A draft that mixes numbers from the evidence ("usually buy 1, 6 and 2" for "1, 12 and
    60"), drops part of the fact ("sent to the UK" for "the UK and France") or says anything
    the evidence does not state (``bot.generation.verifier.verify``) is refused.
    """
    return (product.name.lower() in answer.lower()
            and numbers(answer) == numbers(fact)
            # The verifier reads "$12.50" and "£12.50" as one number; the currency is the fact's.
            and set(_CURRENCY.findall(answer)) <= set(_CURRENCY.findall(fact))
            and verify(answer, (evidence,)).verified
            and grounding(answer, [evidence]) >= MIN_SUPPORT
            and grounding(fact, [answer]) >= MIN_COVERAGE)


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
                       generation: GenerationService, group: Sequence[Product] = (),
                       quantity: int | None = None) -> ProductReply:
    """The reply to ``question`` about ``product`` (``aspect`` from ``bot.engine.nlu``);
    ``group``: the product and its variants (``core.variants.group_of``), for the colours and
    sizes it comes in; ``quantity``: how many the shopper would buy (a price answer adds the
    total)."""
    if aspect in OF_VARIANTS and len(group) > 1:
        return _about_variants(product, group, question)
    if aspect == BASKET:
        return _to_basket(product, quantity)
    evidence = product.evidence()
    known = known_answer(product, aspect)
    if not known and aspect == "stock":
        # The catalogue says nothing of stock (the demo shop's does not): said, not guessed.
        text = (f"I can't see stock levels for the {product.name}, so I won't guess. "
                f"{product.fact_sentences()['price']} Would you like me to ask a person from our team?")
        messages = (BotMessage(text=text, buttons=(Button("Ask a person", "/handoff"),)), card(product))
        return ProductReply(messages, evidence, False, False, 1.0, 0.0)
    if known and aspect in EXACT:
        return ProductReply((BotMessage(text=known), card(product)), evidence, True, False,
                            grounding(known, [evidence]), 0.0)
    if not known:
        text = (f"Our product details for the {product.name} don't answer that, so I won't guess. "
                f"{product.fact_sentences()['price']} Would you like me to ask a person from our team?")
        messages = (BotMessage(text=text, buttons=(Button("Ask a person", "/handoff"),)), card(product))
        return ProductReply(messages, evidence, False, False, 1.0, 0.0)
    start = time.perf_counter()
    generated = await generation.answer(question, (known, evidence), copy_bias=COPY_BIAS)
    generate_ms = (time.perf_counter() - start) * 1000
    use = generated.text is not None and verified(generated.text, known, evidence, product)
    text = generated.text if use and generated.text is not None else known
    if aspect == "price" and quantity:
        # Arithmetic on the catalogue's price, not the generator's: the total is part of the evidence.
        total = _total(product, quantity)
        text, evidence = f"{text} {total}", f"{evidence} {total}"
    return ProductReply((BotMessage(text=text), card(product)), evidence, True, use,
                        grounding(text, [evidence]), generate_ms)


def _total(product: Product, quantity: int) -> str:
    """What ``quantity`` of the product would come to, from the catalogue's price."""
    cost = money(quantity * product.price, product.facts.get("currency"))
    return f"So {quantity} would come to {cost}, before delivery."


def _to_basket(product: Product, quantity: int | None) -> ProductReply:
    """Where the shopper adds the product to their basket: its page when the catalogue links one,
    with its price (and a quantity's total) and stock from the facts; the chat never claims to
    have added it."""
    facts = product.fact_sentences()
    link = product.facts.get("link")
    where = f"on its page: {link}" if link else \
        f"from its page in our shop (stock code {product.stock_code})"
    said = [facts["price"]]
    evidence = [product.evidence()]
    if quantity:
        said.append(_total(product, quantity))
        evidence.append(said[-1])  # the catalogue's price times the quantity, as for a price asked
    if "stock" in facts:
        said.append(facts["stock"])
    # The opening is the bot's own (what it cannot do), not a claim about the product: the
    # grounding is of the product's facts said.
    text = " ".join([f"I can't add things to your basket from this chat, but you can add the "
                     f"{product.name} {where}.", *said])
    return ProductReply((BotMessage(text=text), card(product)), " ".join(evidence), True, False,
                        grounding(" ".join(said), evidence), 0.0)


def _about_variants(product: Product, group: Sequence[Product], question: str) -> ProductReply:
    """The colours and sizes the product comes in, or the one asked for, from its group's facts."""
    text, chosen = variant_answer(product, group, " ".join(question.lower().split()))
    evidence = " ".join(p.evidence() for p in group)
    shown = chosen or product
    return ProductReply((BotMessage(text=text), card(shown)), evidence, True, False,
                        grounding(text, [evidence]), 0.0, focus=shown)
