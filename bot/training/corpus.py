"""Training documents for the shop's own GPT-2, written in the generator's prompt format.

Every answer restates facts found in its context (FAQ answer text, product name, price,
category, stock code), often next to distractor passages, so that even a tiny model learns
to copy from the context rather than invent. Fact documents are laid out exactly as
``bot.generation.product_answer`` prompts: the fact sentence that answers the question, then
the product's evidence; their answer is that sentence, so the model learns to word the answer
the facts decided (a draft the verifier can keep) instead of free shop phrases.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol

from bot.generation.prompt import build_document


class FaqLike(Protocol):
    """What the corpus needs from a knowledge entry (``retrieval.knowledge.KnowledgeEntry``)."""

    @property
    def questions(self) -> Sequence[str]: ...

    @property
    def answer(self) -> str | None: ...


class ProductLike(Protocol):
    """What the corpus needs from a catalogue item (``core.shop.Product``)."""

    @property
    def stock_code(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def price(self) -> float: ...

    @property
    def category(self) -> str: ...

    def passage(self) -> str: ...

    def evidence(self) -> str: ...

    def fact_sentences(self) -> dict[str, str]: ...


# (question template, answer template); {m} is how the customer names the product,
# {n}/{p}/{c}/{s} are its name, price, category and stock code as the context states them.
_PRODUCT_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("tell me about the {m}", "The {n} is part of our {c} range and costs £{p}."),
    ("what can you tell me about the {m}?", "The {n} is part of our {c} range and costs £{p}."),
    ("how much is the {m}?", "The {n} costs £{p}."),
    ("what does the {m} cost", "The {n} costs £{p}."),
    ("price of the {m}?", "The {n} costs £{p}."),
    ("is the {m} a good gift?", "The {n} from our {c} range makes a lovely gift at £{p}."),
    ("would the {m} make a nice present", "The {n} from our {c} range makes a lovely gift at £{p}."),
    ("what kind of product is the {m}?", "The {n} is in our {c} range."),
    ("which category is the {m} in", "The {n} is in our {c} range."),
    ("what is the stock code of the {m}?", "The stock code of the {n} is {s}."),
    ("do you sell the {m}?", "Yes, we sell the {n} for £{p}."),
    ("do you have any {m}", "Yes, we have the {n} for £{p}."),
    # Open questions: the model cannot know more than the context, so it restates the facts.
    ("is the {m} good for {u}?", "The {n} is part of our {c} range and costs £{p}."),
    ("can I use the {m} for {u}", "The {n} is part of our {c} range and costs £{p}."),
    ("would the {m} be nice for {u}?", "The {n} from our {c} range makes a lovely gift at £{p}."),
    ("what is the {m} like?", "The {n} is part of our {c} range and costs £{p}."),
)
# Fact questions per aspect of ``Product.fact_sentences``. Their wording shares no template
# with the evaluation questions (``bench/product_questions.py``), so those stay unseen.
_FACT_QUESTIONS: dict[str, tuple[str, ...]] = {
    "price": ("what would the {m} set me back?", "{m} price please", "is the {m} pricey"),
    "pack": ("does the {m} come as a set?", "what quantity do I get with the {m}",
             "is the {m} a multipack?"),
    "popularity": ("do shoppers like the {m}?", "is the {m} a top seller",
                   "how often is the {m} ordered?"),
    "shipping": ("where has the {m} been delivered?", "do you send the {m} overseas",
                 "could I get the {m} outside the uk?"),
    "bought_with": ("anything to pair the {m} with?", "what else do customers get with the {m}",
                    "suggest something to go alongside the {m}"),
    "colour": ("what shade is the {m}?", "is the {m} colourful"),
    "material": ("what's the {m} built from?", "which fabric or finish has the {m}"),
    "category": ("what section is the {m} in?", "where in the shop is the {m}"),
}
_USES = ("storing biscuits", "a birthday", "my kitchen", "a child", "christmas", "a wedding",
         "everyday use", "the garden", "my mum", "a party", "a new home", "a teacher")


def build_corpus(
    faq: Sequence[FaqLike],
    products: Sequence[ProductLike],
    *,
    questions_per_product: int = 2,
    fact_questions_per_product: int = 1,
    faq_variants: int = 2,
    seed: int = 0,
) -> list[str]:
    """Prompt-format training documents from FAQ entries and catalogue products.

    Answer-less entries (routing intents) are skipped. The result is deterministic for a
    given input and ``seed``.
    """
    rng = random.Random(seed)
    answers = [entry.answer for entry in faq if entry.answer]
    passages = [product.passage() for product in products]
    pool = answers + passages
    docs: list[str] = []
    for entry in faq:
        if entry.answer:
            docs += _faq_documents(entry.questions, entry.answer, pool, faq_variants, rng)
    for product in products:
        docs += _product_documents(product, passages, questions_per_product, rng)
        docs += _fact_documents(product, fact_questions_per_product, rng)
    rng.shuffle(docs)
    return docs


def _faq_documents(
    questions: Sequence[str], answer: str, pool: list[str], variants: int, rng: random.Random
) -> list[str]:
    docs = []
    for question in questions:
        for variant in range(variants):
            # The first variant has the answer alone; later ones hide it among distractors.
            distractors = 0 if variant == 0 else rng.randint(1, 2)
            context = _with_distractors(answer, pool, distractors, rng)
            docs.append(build_document(question, context, answer))
    return docs


def _product_documents(
    product: ProductLike, passages: list[str], count: int, rng: random.Random
) -> list[str]:
    name = product.name.rstrip(" .")
    facts = {"n": name, "p": f"{product.price:.2f}", "c": product.category,
             "s": product.stock_code}
    docs = []
    for question, answer in rng.sample(_PRODUCT_TEMPLATES, min(count, len(_PRODUCT_TEMPLATES))):
        mention = _mention(name, rng)
        context = _with_distractors(product.passage(), passages, rng.randint(0, 2), rng)
        asked = question.format(m=mention, u=rng.choice(_USES))
        docs.append(build_document(asked, context, answer.format(**facts)))
    return docs


def _fact_documents(product: ProductLike, count: int, rng: random.Random) -> list[str]:
    facts = product.fact_sentences()
    aspects = [a for a in _FACT_QUESTIONS if a in facts]
    evidence = product.evidence()
    docs = []
    for aspect in rng.sample(aspects, min(count, len(aspects))):
        asked = rng.choice(_FACT_QUESTIONS[aspect]).format(m=_mention(product.name.rstrip(" ."), rng))
        docs.append(build_document(asked, (facts[aspect], evidence), facts[aspect]))
    return docs


def _with_distractors(
    passage: str, pool: list[str], count: int, rng: random.Random
) -> list[str]:
    others = [p for p in rng.sample(pool, min(count + 1, len(pool))) if p != passage][:count]
    # Retrieval usually ranks the right passage first, but not always.
    position = 0 if rng.random() < 0.6 else rng.randint(0, len(others))
    return others[:position] + [passage] + others[position:]


def _mention(name: str, rng: random.Random) -> str:
    """How a customer might name a product: in full or by its last words, often lower-case."""
    words = name.split()
    if len(words) > 2 and rng.random() < 0.35:
        words = words[-rng.randint(2, len(words) - 1):]
    text = " ".join(words)
    return text.lower() if rng.random() < 0.75 else text
