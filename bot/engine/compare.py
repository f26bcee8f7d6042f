"""Products the shopper has seen, compared on their catalogue facts (no generation: every word
of the answer comes from the catalogue)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.shop import Product, money

# "is the most/least" asks about price unless "popular" follows ("which is the most popular?").
_CHEAP = re.compile(r"\b(?:cheap|cheaper|cheapest|less expensive|least expensive|lower price|lowest price"
                    r"|lower priced|lowest priced|budget|most affordable"
                    r"|(?:costs?|cost me|is) (?:the )?(?:less|least))\b(?! popular)")
_DEAR = re.compile(r"\b(?:(?<!less )(?<!least )expensive|dearer|pricier|priciest|dearest|highest price"
                   r"|highest priced|(?:costs?|cost me|is) (?:the )?(?:more|most))\b(?! popular)")
# Which of those shown is cheapest or dearest: "which one's the priciest?", "lowest priced one?",
# "which of these would cost me the least".
SUPERLATIVE = re.compile(r"\b(?:cheapest|priciest|dearest|most expensive|least expensive|lowest[- ]priced?"
                         r"|highest[- ]priced?|most affordable|(?:costs?|cost me) (?:the )?(?:least|most))\b")
_POPULAR = re.compile(r"\b(?:popular|best ?sell|sells? (?:best|well|more)|most bought)\b")


@dataclass(frozen=True)
class Comparison:
    """A comparison's answer and the one product it picked, if it picked one ("it" next is that one)."""

    text: str
    picked: Product | None = None


def comparison(products: Sequence[Product], question: str) -> Comparison:
    """The answer to ``question`` comparing ``products`` (two or more)."""
    low, many = question.lower(), len(products) > 2
    if _CHEAP.search(low) and not _DEAR.search(low):
        return _extreme(products, cheapest=True, word="cheapest" if many else "cheaper")
    if _DEAR.search(low):
        return _extreme(products, cheapest=False, word="most expensive" if many else "more expensive")
    if _POPULAR.search(low):
        most = max(p.facts.get("orders") or 0 for p in products)
        best = [p for p in products if (p.facts.get("orders") or 0) == most]
        if len(best) > 1:
            return Comparison(f"{_names(best)} are the most popular of those: each was on {most} orders.")
        text = f"The {best[0].name} is the most popular of those: it was on {most} orders."
        return Comparison(text, best[0])
    return Comparison(" ".join(_describe(p) for p in products[:4]))


def _extreme(products: Sequence[Product], *, cheapest: bool, word: str) -> Comparison:
    # Prices that tie are said to tie: naming one of two £1.65 bags "the cheaper" misleads.
    price = (min if cheapest else max)(p.price for p in products)
    chosen = [p for p in products if p.price == price]
    others = [p for p in products if p.price != price]
    if not others:
        both = "both" if len(chosen) == 2 else "all"
        return Comparison(f"{_names(chosen)} {both} cost the same: {_price(chosen[0])} each.")
    rest = ", ".join(f"the {p.name} {_price(p)}" for p in others)
    if len(chosen) > 1:  # three or more compared, so ``word`` is already a superlative
        return Comparison(f"{_names(chosen)} are the {word} at {_price(chosen[0])} each ({rest}).")
    return Comparison(f"The {chosen[0].name} is the {word} at {_price(chosen[0])} ({rest}).", chosen[0])


_COUNT_WORDS = ("no", "one", "two", "three", "four", "five", "six")


def which_were_shown(products: Sequence[Product], more: bool) -> str:
    """ "The third one" when fewer were shown: the ones that were, by name and price, and (when
    there is a search to page) how to see others."""
    count = _COUNT_WORDS[len(products)] if len(products) < len(_COUNT_WORDS) else str(len(products))
    noun = "product" if len(products) == 1 else "products"
    text = f"I only showed you {count} {noun}: {_names(products, priced=True, capital=False)}."
    if len(products) > 1:
        text += " Which one do you mean?"
    if more:
        text += ' Say "show me more" to see others.'
    return text


def _names(products: Sequence[Product], *, priced: bool = False, capital: bool = True) -> str:
    names = [f"the {p.name}" + (f" ({_price(p)})" if priced else "") for p in products]
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return joined[0].upper() + joined[1:] if capital else joined


def _price(product: Product) -> str:
    return money(product.price, product.facts.get("currency"))


def _describe(product: Product) -> str:
    facts = product.facts
    parts = [f"The {product.name} costs {_price(product)}"]
    if facts.get("pack_size"):
        parts.append(f"comes in a pack of {facts['pack_size']}")
    if facts.get("materials"):
        parts.append(f"is made of {' and '.join(facts['materials'])}")
    if facts.get("colours"):
        parts.append(f"comes in {' and '.join(facts['colours'])}")
    if len(parts) == 1:
        return parts[0] + "."
    return ", ".join(parts[:-1]) + " and " + parts[-1] + "."
