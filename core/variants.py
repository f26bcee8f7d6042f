"""A product's variants (the catalogue's products sharing its ``item_group_id``, as a Merchant
Center feed groups colours and sizes of one product) and the colour or size a shopper asks for.

Feed colours are free text ("Dark Red", "Navy", "Blue/White" read as two): a shopper's colour
word matches a colour holding that word ("red" matches "Dark Red"), or one that
:data:`COLOUR_SYNONYMS` files under it ("blue" matches "Navy"). Sizes match by a short key
("large", "L" and "size l" are one size).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from core.shop import FEW_LEFT, Product, in_stock, money, stock_sentence

# Feed colour words that do not say the plain colour a shopper asks for. Kept small on purpose:
# each entry is a claim that a shopper asking for the plain colour would take this one.
COLOUR_SYNONYMS = {
    "navy": "blue", "burgundy": "red", "maroon": "red", "crimson": "red", "scarlet": "red",
    "charcoal": "grey", "gray": "grey", "golden": "gold",
}
# Another spelling of the same colour, read as the one feeds' colours are matched with.
_SPELLING = {"gray": "grey", "golden": "gold"}
# The plain colour words a shopper may ask for without the group having them ("any in pink?").
PLAIN_COLOURS = frozenset((
    "red", "pink", "blue", "green", "white", "black", "gold", "silver", "ivory", "cream", "yellow",
    "orange", "purple", "brown", "grey", "turquoise", "lilac", "beige", "navy", "gray", "teal",
))
# Words inside a feed colour that are not colours ("Black and White").
_NOT_COLOUR = frozenset(("and", "with", "of", "the", "a", "on", "in", "multi"))
# Spelt-out sizes and their key; the longer first, so "extra large" is not read as "large".
_SIZE_NAMES = (
    ("extra extra large", "xxl"), ("extra large", "xl"), ("x-large", "xl"), ("x large", "xl"),
    ("extra small", "xs"), ("x-small", "xs"), ("small", "s"), ("medium", "m"), ("large", "l"),
    ("2xl", "xxl"), ("xxl", "xxl"), ("xl", "xl"), ("xs", "xs"), ("one size", "one size"),
)
_SIZE_ORDER = ("xxs", "xs", "s", "m", "l", "xl", "xxl", "xxxl")
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)?")


def group_of(product: Product, products: Iterable[Product]) -> list[Product]:
    """``product`` and the products sharing its ``item_group_id``, in catalogue order (just
    ``product`` when it has no group)."""
    group_id = product.facts.get("item_group_id")
    if not group_id:
        return [product]
    return [p for p in products if p.facts.get("item_group_id") == group_id] or [product]


def colour_words(colour: str) -> frozenset[str]:
    """The words of a feed colour, each with the plain colour a synonym stands for."""
    words = {w for w in _WORD.findall(colour.lower()) if w not in _NOT_COLOUR}
    return frozenset(words | {COLOUR_SYNONYMS[w] for w in words if w in COLOUR_SYNONYMS})


def has_colour(product: Product, asked: Sequence[str]) -> bool:
    """Whether one of the product's colours holds every asked colour word."""
    return any(set(asked) <= colour_words(c) for c in product.facts.get("colours", []))


def asked_colours(low: str, group: Sequence[Product]) -> list[str]:
    """The colour words a lower-cased message asks for: plain colours, their synonyms and the
    words of the group's own colours ("dark", "teal"), synonyms read as their plain colour."""
    known = set(PLAIN_COLOURS) | {w for p in group for c in p.facts.get("colours", [])
                                  for w in colour_words(c)}
    asked = [_SPELLING.get(w, w) for w in _WORD.findall(low) if w in known]
    # "navy" asked matches "Navy" and "Navy Blue"; kept as said, since "blue" would match more.
    return list(dict.fromkeys(asked))


def size_key(size: str) -> str:
    """A size as one key: "Large", "L", "size l" → "l"; "UK 10" → "uk 10"."""
    low = " ".join(size.lower().replace("size", " ").split())
    return next((key for name, key in _SIZE_NAMES if low == name), low)


def asked_size(low: str, group: Sequence[Product]) -> str | None:
    """The key of the group's size a lower-cased message asks for ("do you have it in large?",
    "size 10", "in an M"). A one- or two-letter or numeric size counts only after "size" or
    "in (a)", so the "s" of "it's" is no size."""
    keys = {size_key(str(p.facts["size"])) for p in group if p.facts.get("size")}
    if not keys:
        return None
    # A standard size the group lacks is still asked for ("in XL?" when it stops at L): a "no".
    for name, key in _SIZE_NAMES:
        if re.search(rf"\b{re.escape(name)}\b", low) and \
                (len(name) > 2 or _after_in(name, low)):
            return key
    for key in sorted(keys, key=len, reverse=True):
        short = len(key) <= 2 or key.replace(" ", "").isdigit()
        if re.search(rf"\b{re.escape(key)}\b", low) and (not short or _after_in(key, low)):
            return key
    return None


def _after_in(word: str, low: str) -> bool:
    return bool(re.search(rf"\b(?:size|in|an?|the) {re.escape(word)}\b", low))


def pick(group: Sequence[Product], focus: Product, colours: Sequence[str], size: str | None) -> list[Product]:
    """The variants with the asked colour and size, best first: the focus itself, then those
    sharing the focus's other attribute (its size when a colour is asked), then in stock."""
    matching = [p for p in group if (not colours or has_colour(p, colours))
                and (size is None or size_key(str(p.facts.get("size", ""))) == size)]
    focus_size = size_key(str(focus.facts.get("size", "")))
    focus_colours = set(focus.facts.get("colours", []))

    def rank(p: Product) -> tuple[bool, bool, bool]:
        same_other = (size_key(str(p.facts.get("size", ""))) == focus_size) if colours and size is None \
            else (set(p.facts.get("colours", [])) == focus_colours)
        return (p is not focus, not same_other, in_stock(p.facts) is False)

    return sorted(matching, key=rank)


def base_name(group: Sequence[Product]) -> str:
    """What the group's products have in common by name ("Android T-Shirt" of "Android T-Shirt,
    green, S" and "Android T-Shirt, blue, M"); the first's name when they share no word."""
    names = [p.name.split() for p in group]
    common: list[str] = []
    for words in zip(*names, strict=False):
        if len(set(words)) != 1:
            break
        common.append(words[0])
    text = " ".join(common).rstrip(" ,-–:/(")
    return text or group[0].name


def _join(items: Sequence[str], word: str = "and") -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {word} " + items[-1]


def _state(products: Sequence[Product]) -> str | None:
    """What keeps all of them from being bought now, when one thing does (their facts say)."""
    if not products or any(in_stock(p.facts) is not False for p in products):
        return None
    kinds = {p.facts.get("availability") for p in products}
    if kinds == {"preorder"}:
        return "available to pre-order only"
    if kinds == {"backorder"}:
        return "on backorder"
    return "out of stock"


def _colours(group: Sequence[Product]) -> tuple[list[str], dict[str, str]]:
    """The group's colours in catalogue order, and those with every variant out of stock."""
    by_colour: dict[str, list[Product]] = {}
    for p in group:
        if p.facts.get("colours"):
            # "Blue/White" is one colourway, written as the feed writes it.
            by_colour.setdefault("/".join(p.facts["colours"]), []).append(p)
    return list(by_colour), _states(by_colour)


def _sizes(group: Sequence[Product]) -> tuple[list[str], dict[str, str]]:
    """The group's sizes, smallest first where they are letters, and those out of stock."""
    by_size: dict[str, list[Product]] = {}
    for p in group:
        if p.facts.get("size"):
            by_size.setdefault(str(p.facts["size"]), []).append(p)

    def order(size: str) -> int:
        key = size_key(size)
        return _SIZE_ORDER.index(key) if key in _SIZE_ORDER else len(_SIZE_ORDER)

    sizes = sorted(by_size, key=order)  # stable: other sizes keep the feed's order
    return sizes, _states({s: by_size[s] for s in sizes})


def _states(by_option: dict[str, list[Product]]) -> dict[str, str]:
    """The options that cannot be bought now, with why ("out of stock", "on backorder")."""
    states = {option: _state(products) for option, products in by_option.items()}
    return {option: state for option, state in states.items() if state}


def _unavailable(items: Sequence[str], states: dict[str, str], kind: str) -> str:
    """Which options cannot be bought now, grouped by why."""
    if len(states) == len(items) and len(set(states.values())) == 1:
        return f" All of them are {next(iter(states.values()))} at the moment."
    notes = []
    for state in dict.fromkeys(states.values()):
        out = [option for option in items if states.get(option) == state]
        if kind == "size":
            notes.append(f" {_join(out)} {'is' if len(out) == 1 else 'are'} {state} at the moment.")
        else:
            which = "one is" if len(out) == 1 else "ones are"
            notes.append(f" The {_join(out)} {which} {state} at the moment.")
    return "".join(notes)


def options(group: Sequence[Product], kind: str | None = None) -> str:
    """What the group comes in: its colours, its sizes (``kind`` "colour" or "size"; None:
    whichever it has, both when it has both), saying which are out of stock."""
    name = base_name(group)
    colours, out_colours = _colours(group)
    sizes, out_sizes = _sizes(group)
    parts = []
    if colours and kind in (None, "colour") and (len(colours) > 1 or kind == "colour" or not sizes):
        parts.append(f"The {name} comes in {_join(colours)}." + _unavailable(colours, out_colours, "colour"))
    if sizes and kind in (None, "size") and (len(sizes) > 1 or kind == "size" or not parts):
        lead = f"The {name} comes in" if not parts else "It comes in"
        parts.append(f"{lead} sizes {_join(sizes)}." + _unavailable(sizes, out_sizes, "size"))
    if not parts:
        return f"The {name} comes in one version only."
    return " ".join(parts)


def variant_answer(focus: Product, group: Sequence[Product], low: str) -> tuple[str, Product | None]:
    """The answer to a lower-cased question about the focus's variants, and the variant it puts
    in focus (None: the focus stays). A colour or size asked for: yes with that variant, or no
    with what there is; else the colours and sizes there are."""
    colours = asked_colours(low, group)
    size = asked_size(low, group)
    if not colours and size is None:
        kind = "size" if re.search(r"\bsizes?\b", low) else \
            "colour" if re.search(r"\bcolou?rs?\b", low) else None
        return options(group, kind), None
    said = " ".join([*colours, *([f"size {_size_said(group, size)}"] if size else [])])
    found = pick(group, focus, colours, size)
    if not found:
        kind = "colour" if colours and size is None else "size" if size and not colours else None
        listed = options(group, kind)
        return f"Sorry, the {base_name(group)} doesn't come in {said}. {listed}", None
    chosen = found[0]
    currency = chosen.facts.get("currency")
    if chosen is focus:
        # Said in the feed's words: "is navy" to "does it come in blue?".
        own = "/".join(focus.facts.get("colours", [])) if colours else ""
        what = " ".join(w for w in (own, f"size {_size_said(group, size)}" if size else "") if w)
        return f"Yes, the {focus.name} is {what or said}." + _stock_note(chosen), None
    return (f"Yes, it comes in {said}: the {chosen.name}, {money(chosen.price, currency)}."
            + _stock_note(chosen)), chosen


def _size_said(group: Sequence[Product], key: str | None) -> str:
    """The size as the feed writes it ("L" for the key "l")."""
    return next((str(p.facts["size"]) for p in group
                 if p.facts.get("size") and size_key(str(p.facts["size"])) == key),
                (key or "").upper() if len(key or "") <= 3 else key or "")


def _stock_note(product: Product) -> str:
    """Said only when it is not plainly in stock: low stock, out of stock, pre-order."""
    facts: dict[str, Any] = product.facts
    quantity = facts.get("stock_quantity")
    if in_stock(facts) is True and not (isinstance(quantity, int | float) and quantity <= FEW_LEFT):
        return ""
    sentence = stock_sentence("It", facts)
    return f" {sentence}" if sentence else ""
