"""What a shopper asks about a product, taken from the shop's own transactions.

For each product: its price and price range, pack sizes (from the name, and the quantities
shoppers buy), how popular it is, where it ships (the countries it was sold to), what it is
bought with (other products on the same invoices), and colour and material words from its
name. ``core.shop.Product.fact_sentences`` turns them into one plain sentence per aspect,
so retrieval passages and answers carry them verbatim; a fact the data does not give is
absent, never guessed.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

COLOURS = ("red", "pink", "blue", "green", "white", "black", "gold", "silver", "ivory", "cream",
           "yellow", "orange", "purple", "brown", "grey", "turquoise", "lilac", "natural",
           "pastel", "multicolour")
MATERIALS = ("glass", "wood", "wooden", "metal", "tin", "zinc", "enamel", "ceramic", "porcelain",
             "bone china", "china", "paper", "cardboard", "card", "felt", "fabric", "cotton",
             "jute", "hessian", "linen", "wicker", "rattan", "bamboo", "plastic", "acrylic",
             "resin", "wire", "iron", "copper", "leather", "lace", "velvet", "silk", "wool",
             "knitted", "crochet", "glitter", "polyester", "vinyl", "stainless steel", "steel")
_PACK = re.compile(
    r"\b(?:pack of|set of|box of|bag of|set|pack)\s*/?\s*(\d{1,3})\b|\b(\d{1,3})\s*(?:pc|pcs|piece|pieces)\b",
    re.IGNORECASE)


class Sale(Protocol):
    """One priced sale line (``retrieval.prepare.Transaction`` with ``sale`` true)."""

    @property
    def invoice(self) -> str: ...
    @property
    def code(self) -> str: ...
    @property
    def quantity(self) -> int: ...
    @property
    def price(self) -> float: ...
    @property
    def country(self) -> str: ...


def build_facts(sales: Iterable[Sale], names: Mapping[str, str], categories: Mapping[str, str]
                ) -> dict[str, dict[str, Any]]:
    """Facts per stock code in ``names`` from its sale lines (plain, JSON-ready values)."""
    by_code: dict[str, list[Sale]] = defaultdict(list)
    baskets: dict[str, set[str]] = defaultdict(set)
    for sale in sales:
        if sale.code in names:
            by_code[sale.code].append(sale)
            baskets[sale.invoice].add(sale.code)
    together: dict[str, Counter[str]] = defaultdict(Counter)
    for basket in baskets.values():
        if len(basket) > 60:
            continue  # wholesale restocks say nothing about what goes together
        for code in basket:
            together[code].update(c for c in basket if c != code)
    orders = {code: len({s.invoice for s in rows}) for code, rows in by_code.items()}
    ranked = sorted(orders.values(), reverse=True)
    facts: dict[str, dict[str, Any]] = {}
    for code, name in names.items():
        rows = by_code.get(code, [])
        prices = sorted(s.price for s in rows)
        countries = Counter(s.country for s in rows)
        quantities = Counter(s.quantity for s in rows)
        n_orders = orders.get(code, 0)
        top_share = (sum(1 for o in ranked if o > n_orders) + 1) / max(1, len(ranked))
        facts[code] = {
            "price_min": prices[0] if prices else None,
            "price_max": prices[-1] if prices else None,
            "pack_size": _pack_size(name),
            "usual_quantities": [q for q, _ in quantities.most_common(3)],
            "orders": n_orders,
            "top_percent": max(1, round(top_share * 100)) if n_orders else None,
            "countries": [c for c, _ in countries.most_common()],
            "bought_with": [names[c] for c, n in together[code].most_common(3) if n >= 2],
            "colours": words_in(name, COLOURS),
            "materials": words_in(name, MATERIALS),
            "category": categories.get(code, ""),
        }
    return facts


def _pack_size(name: str) -> int | None:
    match = _PACK.search(name)
    if match is None:
        return None
    size = int(match.group(1) or match.group(2))
    return size if size > 1 else None


def words_in(name: str, vocabulary: Sequence[str]) -> list[str]:
    """The vocabulary's words that the name holds, as whole words, in vocabulary order."""
    low = f" {re.sub(r'[^a-z ]', ' ', name.lower())} "
    return [w for w in vocabulary if f" {w} " in low]
