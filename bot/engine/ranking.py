"""A product search's cards: the catalogue's nearest products, narrowed and ordered by what the
shopper asked, and what was asked for but is not there, said rather than passed off."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.engine.context import describe, kind_words, look_of, looks, size_words, without_look
from bot.engine.interfaces import Search
from core.shop import Product

Scored = tuple[Product, float]

# How many of the nearest products a price order picks from when the search names no kind of
# thing the catalogue has ("the cheapest thing for a picnic").
ORDER_POOL = 24
# Cards and wrapping go with a present; they are not one ("a birthday present for my mum" found
# birthday cards and gift wrap), unless they are of what the present is for ("Robot Birthday Card"
# for a brother who collects robots). A search that wants them says so, and then is not a present.
_WRAPPING = re.compile(r"\b(?:wrap|wrapping|gift bags?|gift tags?|gift tape|tissue paper|cards?)\b"
                       r"(?! (?:holder|holders|wallet|game|games|case|box))")


@dataclass(frozen=True)
class Ranked:
    """The products to show, best first, and what was asked for and not found, written out
    ("blue teapots"), or None."""

    products: list[Scored]
    missing: str | None = None


def meets(product: Product, search: Search) -> bool:
    """Whether a product meets every constraint of a search (price, colour, material, size, not)."""
    if search.min_price is not None and product.price < search.min_price:
        return False
    if search.max_price is not None and product.price > search.max_price:
        return False
    name = product.name.lower()
    if search.present and _WRAPPING.search(f"{name} {product.category.lower()}") and \
            not any(w in name for w in kind_words(search.words)):
        return False  # (a robot birthday card is still something for a brother who collects robots)
    if search.colour and search.colour not in name and search.colour not in product.facts.get("colours", []):
        return False
    if search.material and search.material not in name and \
            search.material not in product.facts.get("materials", []):
        return False
    if search.size and not any(word in name for word in size_words(search.size)):
        return False
    if not all(word in name for word in search.must):
        return False
    return not any(word in name for word in search.without)


def by_popularity(products: Sequence[Product]) -> list[Scored]:
    """Every product, the most ordered first: a present when nothing says what kind. (No query was
    embedded, so no similarity: each scores 0.)"""
    return [(p, 0.0) for p in sorted(products, key=lambda p: -p.popularity)]


def rank(candidates: list[Scored], search: Search, *, act: str | None, vocabulary: frozenset[str]) -> Ranked:
    """Order ``candidates`` (nearest first, each meeting the search's constraints) for ``search``:
    a follow-up's (``act`` "refine", "more", ...) or a search of its own (``act`` None)."""
    if act is None:
        ranked = _alone(candidates, search, vocabulary)
    else:
        ranked = _follow_up(candidates, search, act, vocabulary)
    found = ranked.products
    if search.prefer:
        found = sorted(found, key=lambda ps: ps[0].category not in search.prefer)
    if search.order:
        # "The cheapest candles": of that kind when the catalogue names it, else of the nearest.
        kind = kind_words(without_look(search.words), vocabulary)
        pool = [ps for ps in found if kind and _holds(ps[0], kind)] or found[:ORDER_POOL]
        found = sorted(pool, key=lambda ps: ps[0].price, reverse=search.order == "descending")
    return replace(ranked, products=found)


def _follow_up(candidates: list[Scored], search: Search, act: str, vocabulary: frozenset[str]) -> Ranked:
    # A follow-up narrows the same kind of thing: "one in pink" after lunch bags means pink lunch
    # bags first, then whatever else the constraint finds.
    kind = kind_words(search.words, vocabulary)
    head = kind[-1:] if act != "more" else ()
    candidates = sorted(candidates, key=lambda ps: (not _holds(ps[0], kind), not _holds(ps[0], head)))
    # Only that kind of thing, when the catalogue has any: two pink umbrellas beat two pink
    # umbrellas and four pink curtains. The next page keeps the first page's order instead:
    # "easter decorations" go on with easter things, not with any decoration.
    of_kind = [ps for ps in candidates if head and _holds(ps[0], head)]
    # "and for cats?" after dog bowls: cat bowls only, when there are any.
    whole = [ps for ps in candidates if kind and _holds(ps[0], kind)]
    # Nothing holds every word asked for ("star shaped cushions"): said, not passed off. (Paging
    # and "more like it" keep the order they started with instead.)
    narrowing = act not in ("more", "similar")
    missing = None
    if narrowing and kind and not whole:
        asked = " ".join(w for w in search.words.lower().split() if kind_words(w, vocabulary))
        missing = describe(replace(search, words=asked))
    return Ranked((whole if narrowing else []) or of_kind or candidates, missing)


def _alone(candidates: list[Scored], search: Search, vocabulary: frozenset[str]) -> Ranked:
    # "red lanterns": red lanterns first, then other lanterns, not red anything. When the kind
    # never comes in that colour, said, and the kind shown ("I couldn't find any red lanterns").
    colour, material = look_of(search.words)
    if not (colour or material):
        return Ranked(candidates)
    plain = without_look(search.words)
    kind = kind_words(plain, vocabulary)

    def fits(product: Product) -> bool:
        return looks(product, colour, material) and _holds(product, kind)

    if any(fits(p) for p, _ in candidates):
        return Ranked(sorted(candidates, key=lambda ps: (not fits(ps[0]), not _holds(ps[0], kind))))
    if not kind or not any(_holds(p, kind) for p, _ in candidates):
        return Ranked(candidates)
    asked = _plural(" ".join(w for w in plain.split() if kind_words(w, vocabulary)))
    wanted = Search(asked, colour=colour, material=material, min_price=search.min_price,
                    max_price=search.max_price)
    return Ranked(sorted(candidates, key=lambda ps: not _holds(ps[0], kind)), describe(wanted))


def _holds(product: Product, words: Sequence[str]) -> bool:
    name = product.name.lower()
    return all(w in name for w in words)


def _plural(words: str) -> str:
    """ "blue teapot" → "blue teapots" (the last word; already plural stays)."""
    head, _, last = words.rpartition(" ")
    if not last or last.endswith("s"):
        return words
    if last.endswith(("ch", "sh", "x", "z")):
        last += "es"
    elif last.endswith("y") and last[-2:-1] not in ("a", "e", "i", "o", "u"):
        last = last[:-1] + "ies"
    else:
        last += "s"
    return f"{head} {last}".strip()
