"""Personal data redaction, applied before anything is stored, logged or shown to auditors.

What is found and how (docs/privacy.md lists it with examples):

* phone numbers in any international format: Google's libphonenumber (``phonenumbers``), a
  match counting when the library deems it a valid number or a possible one of 9+ digits;
* e-mail addresses, also written "name at gmail dot com", "name[at]mail(dot)com", with spaces
  around the @ or in full-width forms (the text is NFKC-normalised first);
* local 7-digit phone numbers ("555-2671"; bare "5552671" only next to "call", "phone", ...);
* payment cards (13-19 digits split by any separators, several in a row too: spaces,
  underscores, dashes, dots, slashes; Luhn-checked with ``python-stdnum``), IBANs (checked with
  ``schwifty``), UK sort codes, and 8-digit account numbers next to banking words;
* UK postcodes, UK National Insurance numbers (HMRC's format), street addresses ("12 Acacia
  Avenue", "10 Rue de Rivoli", "Church Lane", "Rose Cottage,", "Flat 3"), and dates or years
  next to "born", "birth", "DOB" ("born in 1985");
* shoppers' names (:mod:`monitoring.names`: cue words checked by spaCy's NER model), when the
  :class:`Redactor` is given a :class:`~monitoring.names.NameFinder`.

Anything found becomes a placeholder such as ``[EMAIL]``; nothing is kept of the original.
Text is also scrubbed of NUL and lone surrogates, which no database or JSON encoder accepts.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from stdnum import luhn

from monitoring.names import NameFinder, ProductWords

REPLACEMENT = "\ufffd"
_UNSAFE = re.compile(r"[\x00\ud800-\udfff]")

_AT = r"(?:\s*@\s*|\s*[\[\(\{<]\s*at\s*[\]\)\}>]\s*|\s+at\s+)"
_DOT = r"(?:\s*\.\s*|\s*[\[\(\{<]\s*dot\s*[\]\)\}>]\s*|\s+dot\s+)"
_EMAIL = re.compile(
    rf"[A-Za-z0-9._%+-]+(?:{_DOT}[A-Za-z0-9._%+-]+)*{_AT}[A-Za-z0-9-]+(?:{_DOT}[A-Za-z0-9-]+)*"
    rf"{_DOT}[A-Za-z]{{2,24}}\b",
    re.IGNORECASE,
)
# The loose pattern is slow to try at every word; no "@" and no "at" means it cannot match.
_AT_HINT = re.compile(r"@|\bat\b", re.IGNORECASE)
# The plain form needs no "at"/"dot" words; it is also what the loose pattern must not eat.
_EMAIL_PLAIN = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Any separators between the digits ("4111  1111", "4111_1111"), up to three in a row; Luhn decides.
_CARD = re.compile(r"(?<![\w.])\d(?:(?:[^\w\n]|_){0,3}\d){12,18}(?![^\W_])")
# Local numbers without an area code: "555-2671", "555 2671"; the bare form only near a phone word.
_LOCAL_PHONE = re.compile(r"(?<![\w£$€.,/-])\d{3}[-. ]\d{4}(?![\w/-]|[.,]\d)")
_BARE_PHONE = re.compile(
    r"\b(?:call|ring|phone|mobile|tel|telephone|cell|number|text|whatsapp)\b[^\d\n]{0,20}(?<![\w£$€.])(\d{7})(?!\w)",
    re.IGNORECASE,
)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]){11,30}\b", re.IGNORECASE)
_SORT_CODE = re.compile(r"(?<![\w-])\d{2}[- ]\d{2}[- ]\d{2}(?![\w-])")
_ACCOUNT = re.compile(
    r"\b(?:account|acct|acc|a/c|bank|sort code)\b[^\d\n]{0,30}(?<!\w)(\d{8})(?!\w)", re.IGNORECASE
)
_POSTCODE = re.compile(r"\b(?:[A-Z]{1,2}\d[A-Z\d]?|GIR)\s*\d[A-Z]{2}\b", re.IGNORECASE)
# Two letters, six digits, A-D: HMRC's format. Its prefix rules are not applied, because the
# example numbers people type (QQ 12 34 56 C) break them and are still meant as NI numbers.
_NINO = re.compile(r"\b[A-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b", re.IGNORECASE)
_STREET_WORDS = (
    "street|st|road|rd|lane|ln|avenue|ave|close|drive|dr|way|court|ct|place|pl|crescent|cres|"
    "terrace|gardens|grove|park|square|sq|hill|row|mews|walk|green|boulevard|blvd|parade|rise|vale"
)
_STREET = re.compile(
    rf"\b(?:(?:flat|apartment|apt|unit)\s+\d+[a-z]?,?\s+)?\d{{1,4}}[a-z]?,?\s+"
    rf"(?:[A-Za-z'-]+\s+){{1,3}}(?:{_STREET_WORDS})\b\.?",
    re.IGNORECASE,
)
# Streets named first in French, Spanish, Italian, Portuguese, Dutch, German: "10 Rue de Rivoli",
# "Calle Mayor 5", "Hauptstraße 12".
_FOREIGN_FIRST = ("rue|avenue|boulevard|bd|chemin|place|allée|allee|via|viale|piazza|calle|avenida|plaza|"
                  "carrer|rua|praça")
_PARTICLE = "de|del|de la|des|du|di|da|do|dos|das|della|la|le|les"
_FOREIGN_STREET = re.compile(
    rf"\b(?:\d{{1,4}}[a-z]?,?\s+)?(?i:{_FOREIGN_FIRST})\s+(?:(?:{_PARTICLE})\s+)?"
    rf"[A-ZÀ-Ý][\w'’-]+(?:\s+[A-ZÀ-Ý][\w'’-]+){{0,2}}(?:,?\s+\d{{1,4}}[a-z]?\b)?",
)
_FOREIGN_LAST = re.compile(
    r"\b[A-ZÄÖÜ][\wäöüß-]*(?:straße|strasse|str\.|weg|gasse|platz|allee|laan|straat|gracht|plein|vej|gatan|gate)"
    r"\s+\d{1,4}[a-z]?\b",
)
# No house number, capitalised as names are: "Church Lane", "Rose Cottage,", "Ivy House, ...".
_CAPS = r"[A-Z][a-z'’-]+"
_NAMED_STREET = re.compile(
    rf"\b(?:{_CAPS}\s+){{1,3}}(?:Street|Road|Lane|Avenue|Close|Drive|Crescent|Terrace|Gardens|Grove|"
    rf"Mews|Boulevard|Parade|Square|Row)\b"
)
_HOUSES = "Cottage|Cottages|Farm|Farmhouse|Lodge|Manor|Barn|Bungalow|House|Villa|Hall"
_HOUSE_NAME = re.compile(rf"\b(?:{_CAPS}\s+){{1,2}}(?:{_HOUSES})\b(?=\s*,)")
# A house name followed by a street is an address even when the shop sells a "Rose Cottage" box.
_HOUSE_IN_ADDRESS = re.compile(
    rf"\b(?:{_CAPS}\s+){{1,2}}(?:{_HOUSES})\s*,\s*(?:\d{{1,4}}[a-z]?\s+)?(?:{_CAPS}\s+){{1,3}}"
    rf"(?:Street|Road|Lane|Avenue|Close|Drive|Crescent|Terrace|Gardens|Grove|Mews|Way|Hill|Green|Row)\b"
)
_FLAT = re.compile(r"\b(?:flat|apartment|apt)\s+\d+[a-z]?\b", re.IGNORECASE)
_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec"
_DATE = (
    rf"(?:\d{{1,2}}[/.\-]\d{{1,2}}[/.\-]\d{{2,4}}|\d{{4}}-\d{{1,2}}-\d{{1,2}}|"
    rf"\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS})[a-z]*\.?,?\s+\d{{2,4}}|"
    rf"(?:{_MONTHS})[a-z]*\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{2,4}})"
)
# A year alone counts too ("born in 1985"), and a month and year ("born March 1985").
_BIRTH_DATE = rf"(?:{_DATE}|(?:{_MONTHS})[a-z]*\.?,?\s+(?:19|20)\d{{2}}|(?:19|20)\d{{2}})(?!\d)"
_DOB = re.compile(
    rf"\b(?:born|birth|birthday|dob|d\.o\.b\.?|birth\s+year|year\s+of\s+birth)\b[^\d\n]{{0,25}}?({_BIRTH_DATE})",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Redacted:
    """Redacted text and whether anything was replaced."""

    text: str
    changed: bool


@dataclass(frozen=True)
class Span:
    """Where one piece of personal data sits in a (normalised) text."""

    start: int
    end: int
    kind: str


def scrub(text: str) -> str:
    """``text`` without NUL and lone surrogates (each becomes U+FFFD)."""
    return _UNSAFE.sub(REPLACEMENT, text)


def normalise(text: str) -> str:
    """NFKC (full-width ＠ is @) and scrubbed: the form every span refers to."""
    return unicodedata.normalize("NFKC", scrub(text))


# The shortest valid numbers anywhere (Saint Helena, Niue, Tokelau) have 7 digits with their
# country code; fewer digits in the whole text cannot make one.
_PHONE_MIN_DIGITS = 7


def phone_spans(text: str) -> Iterator[Span]:
    """Phone numbers in ``text`` (already normalised)."""
    for match in PhoneNumberMatcher(text, "GB", leniency=Leniency.POSSIBLE):
        # Digits glued to letters are part of a token (a uuid, a reference), not a phone number.
        if _glued(text, match.start, match.end):
            continue
        digits = sum(ch.isdigit() for ch in match.raw_string)
        if digits >= 9 or phonenumbers.is_valid_number(match.number):
            yield Span(match.start, match.end, "PHONE")


def find(text: str) -> list[Span]:
    """Every piece of personal data in ``text`` (already normalised), left to right."""
    spans: list[Span] = []
    spans += [Span(m.start(), m.end(), "EMAIL") for m in _EMAIL_PLAIN.finditer(text)]
    if _AT_HINT.search(text):
        spans += [Span(m.start(), m.end(), "EMAIL") for m in _EMAIL.finditer(text)]
    digits = sum(ch.isdigit() for ch in text)
    if not digits:
        # Every other kind below contains a digit: most messages stop here (a turn redacts
        # a dozen strings, so this is most of the redaction cost saved).
        return _merge(spans)
    spans += [Span(m.start(), m.start() + n, "IBAN") for m in _IBAN.finditer(text)
              if (n := _iban_length(m.group(0)))]
    spans += [Span(m.start(), m.end(), "CARD") for m in _CARD.finditer(text) if _card(m.group(0))]
    if digits >= _PHONE_MIN_DIGITS:
        spans += list(phone_spans(text))
        spans += [Span(m.start(), m.end(), "PHONE") for m in _LOCAL_PHONE.finditer(text)]
        spans += [Span(m.start(1), m.end(1), "PHONE") for m in _BARE_PHONE.finditer(text)]
    spans += [Span(m.start(), m.end(), "NI_NUMBER") for m in _NINO.finditer(text)]
    spans += [Span(m.start(1), m.end(1), "ACCOUNT") for m in _ACCOUNT.finditer(text)]
    spans += [Span(m.start(), m.end(), "SORT_CODE") for m in _SORT_CODE.finditer(text)]
    spans += [Span(m.start(1), m.end(1), "DOB") for m in _DOB.finditer(text)]
    spans += [Span(m.start(), m.end(), "ADDRESS") for m in _STREET.finditer(text)]
    spans += [Span(m.start(), m.end(), "ADDRESS") for m in _FLAT.finditer(text)]
    spans += [Span(m.start(), m.end(), "ADDRESS") for m in _FOREIGN_LAST.finditer(text)]
    spans += [Span(m.start(), m.end(), "POSTCODE") for m in _POSTCODE.finditer(text)]
    return _merge(spans)


# Kinds found without any digit, which need the catalogue to tell a shopper's street ("Church
# Lane") from a product ("Landmark Frame Baker Street"): not part of :func:`find`.
def place_spans(text: str, products: ProductWords) -> list[Span]:
    """Streets named without a house number and house names, unless the shop sells them."""
    found = [Span(m.start(), m.end(), "ADDRESS") for rule in (_NAMED_STREET, _HOUSE_NAME, _FOREIGN_STREET)
             for m in rule.finditer(text)]
    kept = [s for s in found if not products.sold(text, s.start, s.end)]
    return kept + [Span(m.start(), m.end(), "ADDRESS") for m in _HOUSE_IN_ADDRESS.finditer(text)]


_NO_NAMES = NameFinder()


def detect(text: str, names: NameFinder = _NO_NAMES) -> list[Span]:
    """Everything :func:`find` finds, streets without numbers, and names (with ``names``)."""
    spans = find(text)
    spans += place_spans(text, names.products)
    spans += [Span(s.start, s.end, "NAME") for s in names.spans(text)]
    return _merge(spans)


def redact(text: str, keep: frozenset[str] = frozenset(), names: NameFinder = _NO_NAMES) -> Redacted:
    """Replace personal data with placeholders (``[EMAIL]``, ``[PHONE]``, ``[NAME]``, …).

    ``keep`` holds the shop's own public details (its support e-mail and phone number, found
    in its FAQ answers): those are not anybody's personal data and stay as they are. ``names``
    finds shoppers' names (cue words only unless it has the NER model).
    """
    key = (text, keep, names)
    if key in _known_clean:
        return Redacted(text, False)
    clean = normalise(text)
    spans = [s for s in detect(clean, names) if clean[s.start:s.end] not in keep]
    if not spans:
        if clean == text:
            _remember_clean(key)
        return Redacted(clean, clean != text)
    out, last = [], 0
    for span in spans:
        out.append(clean[last:span.start])
        out.append(f"[{span.kind}]")
        last = span.end
    out.append(clean[last:])
    return Redacted("".join(out), True)


# Texts known to hold no personal data: the bot's own replies (FAQ answers, product cards)
# repeat turn after turn, and redacting them again is most of a turn's redaction cost. Only
# texts in which nothing was found are kept, so nothing personal is held here.
_known_clean: dict[tuple[str, frozenset[str], NameFinder], None] = {}
_KNOWN_CLEAN_MAX = 20_000


def _remember_clean(key: tuple[str, frozenset[str], NameFinder]) -> None:
    if len(_known_clean) >= _KNOWN_CLEAN_MAX:
        _known_clean.clear()
    _known_clean[key] = None


def redact_json(value: Any, keep: frozenset[str] = frozenset(), names: NameFinder = _NO_NAMES) -> Any:
    """Every string in a JSON-like value redacted (keys too)."""
    if isinstance(value, str):
        return redact(value, keep, names).text
    if isinstance(value, dict):
        return {redact(str(k), keep, names).text: redact_json(v, keep, names) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_json(v, keep, names) for v in value]
    return value


@dataclass(frozen=True)
class Redactor:
    """The one redaction path: :func:`redact` with the shop's own public details kept.

    Built once with the shop's details and the name finder (``RecordFactory.redactor``) and used
    by everything that stores or shows a turn, so the shop's support address stays everywhere and
    a shopper's goes. With a NER model in ``names``, :meth:`text` runs inference: call it from a
    worker thread, not the event loop.
    """

    public: frozenset[str] = frozenset()
    names: NameFinder = _NO_NAMES

    def text(self, text: str) -> str:
        """``text`` with personal data replaced by placeholders."""
        return redact(text, self.public, self.names).text

    def json(self, value: Any) -> Any:
        """Every string in a JSON-like value redacted (keys too)."""
        return redact_json(value, self.public, self.names)

    def personal(self, text: str) -> list[str]:
        """The kinds of personal data in ``text`` other than the shop's own details (sorted)."""
        clean = normalise(text)
        return sorted({s.kind for s in detect(clean, self.names) if clean[s.start:s.end] not in self.public})


def public_details(texts: Iterable[str], names: NameFinder = _NO_NAMES) -> frozenset[str]:
    """The personal-data-shaped strings in the shop's own texts (its contact details, its own
    address, the assistant's name in "I'm Shopbot")."""
    found: set[str] = set()
    for text in texts:
        clean = normalise(text)
        found.update(clean[s.start:s.end] for s in detect(clean, names))
    return frozenset(found)


def pseudonym(key: bytes, identifier: str) -> str:
    """A stable stand-in for an identifier that carries personal data (an e-mail as an id)."""
    digest = hmac.new(key, identifier.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return f"anon-{digest[:24]}"


def private_id(key: bytes, identifier: str) -> str:
    """``identifier`` itself when it holds no personal data, else its :func:`pseudonym`."""
    if normalise(identifier) == identifier and not find(identifier):
        return identifier
    return pseudonym(key, identifier)


def _glued(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return before.isalnum() or after.isalnum()


def _merge(spans: list[Span]) -> list[Span]:
    """Overlapping spans merged; the longest (then earliest-listed) names the piece."""
    ordered = sorted(spans, key=lambda s: (s.start, -(s.end - s.start)))
    merged: list[Span] = []
    for span in ordered:
        if merged and span.start < merged[-1].end:
            if span.end > merged[-1].end:
                merged[-1] = Span(merged[-1].start, span.end, merged[-1].kind)
            continue
        merged.append(span)
    return merged


def _card(candidate: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    return 13 <= len(digits) <= 19 and luhn.is_valid(digits)


def _iban_length(candidate: str) -> int:
    """Length of the longest valid IBAN at the start of a match (0: none).

    The pattern is greedy: "GB82 WEST 1234 5698 7654 32 is mine" matches with " is" on the
    end, so shorter cuts at word boundaries are tried too.
    """
    cut = len(candidate)
    while cut >= 15:
        if _iban(candidate[:cut]):
            return cut
        cut = max(candidate.rfind(" ", 0, cut), candidate.rfind("-", 0, cut))
    return 0


def _iban(candidate: str) -> bool:
    try:
        IBAN(candidate.replace("-", " "))
    except (SchwiftyException, ValueError):
        return False
    return True
