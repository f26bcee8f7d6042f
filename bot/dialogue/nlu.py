"""Entities read off a message with patterns: order numbers, price ranges, references back."""

from __future__ import annotations

import re
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Entities:
    """What the patterns found in one message."""

    order_number: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    refers_back: bool = False
    payload_intent: str | None = None

    def as_rasa(self) -> list[dict[str, str]]:
        """Rasa entity dicts, as a rasa-sdk action reads them from ``latest_message``."""
        return [{"entity": "order_number", "value": self.order_number}] if self.order_number else []


def extract(text: str) -> Entities:
    """Read entities from a (normalised) message."""
    low = text.lower()
    payload = _PAYLOAD.match(low.strip())
    order = _ORDER.search(text)
    lo, hi = _price_range(low)
    return Entities(
        order_number=order.group(1).upper() if order else None,
        min_price=lo,
        max_price=hi,
        refers_back=bool(_ANAPHORA.search(low)),
        payload_intent=payload.group(1) if payload else None,
    )


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
