"""A stand-in for Rasa's DucklingEntityExtractor: numbers, ordinals and e-mail addresses in text.

Rasa projects that list ``DucklingEntityExtractor`` in their pipeline get entities such as
``number`` from a Duckling server, not from annotated examples (Rasa's formbot fills
``num_people`` from "for three people" that way). No Duckling server runs here, so the
dimensions a shop's flows ask for most are read in-process, as Duckling reports them: entity
named after the dimension, ``value`` a number (``int`` when whole), ``extractor``
``DucklingEntityExtractor``, ``confidence_entity`` 1.0. Other dimensions (time, duration,
amount-of-money, ...) are listed by ``shopbot rasa-check`` as not extracted.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from typing import Any

from number_parser import parse_number, parse_ordinal

# The dimensions this stand-in reads (Duckling's names).
SUPPORTED = frozenset({"number", "ordinal", "email"})
# Words that join a number's words ("one hundred and two") but are no number alone.
_JOINERS = frozenset({"and"})
# English number words: a run of them (and joiners) is handed to number-parser, nothing else is.
_NUMBER_WORDS = frozenset({
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    "hundred", "thousand", "million", "billion",
})
# The longest run of words read as one number ("one hundred and twenty three thousand").
_MAX_WORDS = 8
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*(?:st|nd|rd|th)?|[A-Za-z]+(?:-[A-Za-z]+)*")
_DIGITS = re.compile(r"(\d+(?:[.,]\d+)*)(st|nd|rd|th)?")
_ORDINAL_WORD = re.compile(r"(?:first|second|third|[a-z]+(?:th|st|nd|rd))", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


class DucklingStandIn:
    """Numbers, ordinals and e-mail addresses as ``DucklingEntityExtractor`` finds them
    (``bot/rasa/ports.py: EntityExtractor``); only the supported ``dimensions`` asked for."""

    def __init__(self, dimensions: Collection[str]) -> None:
        self.dimensions = frozenset(dimensions) & SUPPORTED

    def warm_up(self) -> None:
        """Nothing to load."""

    def run(self, text: str) -> tuple[dict[str, Any], ...]:
        """The entities of the asked dimensions in ``text``, in order of position."""
        found: list[tuple[str, int, int, Any]] = []
        if "email" in self.dimensions:
            found += [("email", m.start(), m.end(), m.group()) for m in _EMAIL.finditer(text)]
        taken = [(start, end) for _, start, end, _ in found]
        if self.dimensions & {"number", "ordinal"}:
            found += [f for f in _numbers(text) if f[0] in self.dimensions
                      and not any(s < f[2] and f[1] < e for s, e in taken)]
        return tuple(
            {"entity": dim, "start": start, "end": end, "value": value, "text": text[start:end],
             "confidence_entity": 1.0, "extractor": "DucklingEntityExtractor"}
            for dim, start, end, value in sorted(found, key=lambda f: f[1]))


def _numbers(text: str) -> Iterator[tuple[str, int, int, Any]]:
    """(dimension, start, end, value) of each number or ordinal, written in digits or words."""
    tokens = list(_TOKEN.finditer(text))
    i = 0
    while i < len(tokens):
        token = tokens[i].group()
        digits = _DIGITS.fullmatch(token)
        if digits is not None:
            value = _value(digits.group(1))
            if value is not None:
                yield ("ordinal" if digits.group(2) else "number", tokens[i].start(), tokens[i].end(), value)
            i += 1
            continue
        read = _words(text, tokens, i)
        if read is None:
            i += 1
            continue
        dim, j, value = read
        yield dim, tokens[i].start(), tokens[j - 1].end(), value
        i = j


def _words(text: str, tokens: list[re.Match[str]], i: int) -> tuple[str, int, Any] | None:
    """The longest run of words from ``tokens[i]`` that reads as one number (or an ordinal word)."""
    if not _number_word(tokens[i].group()):
        if _ORDINAL_WORD.fullmatch(tokens[i].group()):
            ordinal = parse_ordinal(tokens[i].group())
            if ordinal is not None:
                return "ordinal", i + 1, ordinal
        return None
    end = i + 1
    while end < min(len(tokens), i + _MAX_WORDS) and (
            _number_word(tokens[end].group()) or tokens[end].group().lower() in _JOINERS):
        end += 1
    for j in range(end, i, -1):
        if tokens[j - 1].group().lower() in _JOINERS:
            continue
        phrase = text[tokens[i].start():tokens[j - 1].end()]
        number = parse_number(phrase)
        if number is not None:
            return "number", j, number
    return None


def _number_word(word: str) -> bool:
    return all(part in _NUMBER_WORDS for part in word.lower().split("-"))


def _value(digits: str) -> int | float | None:
    # "1,000" groups thousands; "2,5" is a decimal comma.
    grouped = re.fullmatch(r"\d{1,3}(?:,\d{3})+", digits)
    plain = digits.replace(",", "") if grouped else digits.replace(",", ".")
    try:
        number = float(plain)
    except ValueError:
        return None
    return int(number) if number.is_integer() else number


__all__ = ["DucklingStandIn", "SUPPORTED"]
