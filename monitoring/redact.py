"""Personal data redaction applied before anything is logged or shown to auditors."""

from __future__ import annotations

import re
from dataclasses import dataclass

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# 13-19 digits, optionally grouped by spaces or dashes: card numbers (checked with Luhn).
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
# Phone numbers: optional +country code, at least 9 digits in groups. Six-digit order
# numbers stay readable because they are shorter.
_PHONE = re.compile(r"(?<![\w])(?:\+\d{1,3}[\s-]?)?(?:\(?\d{2,5}\)?[\s-]?){2,4}\d{2,4}(?![\w])")


@dataclass(frozen=True)
class Redacted:
    """Redacted text and whether anything was replaced."""

    text: str
    changed: bool


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[CARD]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group(0)


def _phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[PHONE]" if len(digits) >= 9 else match.group(0)


def redact(text: str) -> Redacted:
    """Replace e-mail addresses, card numbers and phone numbers with placeholders."""
    out = _EMAIL.sub("[EMAIL]", text)
    out = _CARD.sub(_card, out)
    out = _PHONE.sub(_phone, out)
    return Redacted(out, out != text)
