"""Entities read off a message with patterns: order numbers, price ranges, references back."""

from __future__ import annotations

import re

from bot.engine.interfaces import Entities
from monitoring.redact import Span, find, normalise

_ORDER = re.compile(r"(?<![\d£$.])(C?\d{6})(?![\d.])", re.IGNORECASE)
_UNDER = re.compile(r"(?:under|below|less than|cheaper than|up to|max(?:imum)?|<)\s*£?\s*(\d+(?:\.\d+)?)")
_OVER = re.compile(r"(?:over|above|more than|at least|from|>)\s*£?\s*(\d+(?:\.\d+)?)")
_BETWEEN = re.compile(r"between\s*£?\s*(\d+(?:\.\d+)?)\s*(?:and|-|to)\s*£?\s*(\d+(?:\.\d+)?)")
_ANAPHORA = re.compile(r"\b(that one|this one|like (?:that|this|it|those|these)|similar|same kind)\b")
_PAYLOAD = re.compile(r"^/([a-z_]+)\s*$")
_LEAD_IN = re.compile(
    r"^(?:hi|hello|hey)?[\s,]*(?:do you (?:sell|have|stock|do)|have you got|are there( any)?|"
    r"i'?m looking for|i am looking for|i want|i need|show me|can i (?:get|buy)|any)\s+",
)


def extract(text: str) -> Entities:
    """Read entities from a message."""
    low = text.lower()
    payload = _PAYLOAD.match(low.strip())
    lo, hi = _price_range(low)
    clean = normalise(text)
    spans = find(clean)
    phones = [(s.start, s.end) for s in spans if s.kind == "PHONE"]
    # Six digits inside a phone number ("my mobile 07700 900123") are not an order number.
    order = next((m for m in _ORDER.finditer(clean)
                  if not any(a <= m.start(1) < b for a, b in phones)), None)
    return Entities(
        order_number=order.group(1).upper() if order else None,
        min_price=lo,
        max_price=hi,
        refers_back=bool(_ANAPHORA.search(low)),
        payload_intent=payload.group(1) if payload else None,
        email=_first(clean, spans, "EMAIL"),
        postcode=_first(clean, spans, "POSTCODE"),
        product_aspect=product_aspect(low),
    )


# Checked in order: the first aspect whose words the question holds. Questions the facts
# cannot answer (dishwasher safe, dimensions, ...) match none and get an honest "don't know".
_ASPECTS = tuple((name, re.compile(pattern)) for name, pattern in (
    ("bought_with", r"\b(?:go(?:es)? (?:well )?with|bought with|buy with|pairs? with|match(?:es)? with)\b"),
    ("shipping",
     r"\b(?:ship(?:ped|s|ping)?|send|sent|deliver(?:ed|y)?|post(?:ed)?|countr(?:y|ies)|abroad)\b"),
    ("pack", r"\b(?:how many (?:are |come )?in|pack|packs|set of|one at a time|singly|pieces|per box)\b"),
    ("price", r"\b(?:how much|price|cost|costs|cheap|expensive|£)"),
    ("popularity",
     r"\b(?:popular|best ?sell(?:er|ing)|sell(?:s)? well|lots of people|many people|bestseller)\b"),
    ("colour", r"\b(?:colou?rs?)\b"),
    ("material", r"\b(?:made (?:of|from)|material)\b"),
    ("overview", r"^(?:tell me about|what is|what's|describe)\b"),
))


def product_aspect(low: str) -> str | None:
    """The product fact a lower-cased question asks about, or None."""
    # "pack of 12", "set/3" inside a product's name do not ask about pack sizes.
    low = _NAMED_COUNT.sub(" ", low)
    return next((name for name, rule in _ASPECTS if rule.search(low)), None)


_NAMED_COUNT = re.compile(r"\b(?:pack|set|box|bag)\s*(?:of\s*)?/?\s*\d+\b")


def _first(text: str, spans: list[Span], kind: str) -> str | None:
    return next((text[s.start:s.end] for s in spans if s.kind == kind), None)


def _price_range(low: str) -> tuple[float | None, float | None]:
    between = _BETWEEN.search(low)
    if between:
        a, b = sorted((float(between.group(1)), float(between.group(2))))
        return a, b
    under, over = _UNDER.search(low), _OVER.search(low)
    if under is None and over is None:
        return None, None
    # Only a price when a currency sign or word is near: "over 3 days" is not a price.
    if "£" not in low and "pound" not in low and "gbp" not in low:
        return None, None
    return (float(over.group(1)) if over else None, float(under.group(1)) if under else None)


def product_query(text: str) -> str:
    """The part of a product question worth embedding: lead-ins and price phrases removed."""
    low = text.lower().strip().rstrip("?!. ")
    low = _BETWEEN.sub(" ", low)
    low = _UNDER.sub(" ", low)
    low = _OVER.sub(" ", low)
    low = _LEAD_IN.sub("", low)
    return re.sub(r"\s+", " ", low).strip() or text
