"""Products the shopper has seen, compared on their catalogue facts (no generation: every word
of the answer comes from the catalogue)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.shop import Product, money

_CHEAP = re.compile(r"\b(?:cheap|cheaper|cheapest|less expensive|least expensive|lower price|lowest price"
                    r"|lower priced|lowest priced|budget|most affordable"
                    r"|(?:costs?|cost me|is) (?:the )?(?:less|least))\b")
_DEAR = re.compile(r"\b(?:(?<!less )(?<!least )expensive|dearer|pricier|priciest|dearest|highest price"
                   r"|highest priced|(?:costs?|cost me|is) (?:the )?(?:more|most))\b")
# Which of those shown is cheapest or dearest: "which one's the priciest?", "lowest priced one?",
# "which of these would cost me the least".
SUPERLATIVE = re.compile(r"\b(?:cheapest|priciest|dearest|most expensive|least expensive|lowest[- ]priced?"
                         r"|highest[- ]priced?|most affordable|(?:costs?|cost me) (?:the )?(?:least|most))\b")
_POPULAR = re.compile(r"\b(?:popular|best ?sell|sells? (?:best|well|more)|most bought)\b")


def comparison(products: Sequence[Product], question: str) -> str:
    """The answer to ``question`` comparing ``products`` (two or more)."""
    low, many = question.lower(), len(products) > 2
    if _CHEAP.search(low) and not _DEAR.search(low):
        return _extreme(products, cheapest=True, word="cheapest" if many else "cheaper")
    if _DEAR.search(low):
        return _extreme(products, cheapest=False, word="most expensive" if many else "more expensive")
    if _POPULAR.search(low):
        best = max(products, key=lambda p: p.facts.get("orders") or 0)
        return (f"The {best.name} is the most popular of those: it was on "
                f"{best.facts.get('orders') or 0} orders.")
    return " ".join(_describe(p) for p in products[:4])


def _extreme(products: Sequence[Product], *, cheapest: bool, word: str) -> str:
    chosen = (min if cheapest else max)(products, key=lambda p: p.price)
    others = ", ".join(f"the {p.name} {_price(p)}" for p in products if p is not chosen)
    return f"The {chosen.name} is the {word} at {_price(chosen)} ({others})."


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
