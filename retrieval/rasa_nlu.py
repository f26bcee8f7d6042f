"""Rasa NLU training data with its entities: annotated examples, synonyms, regexes, lookup tables.

An example such as ``show me [Berlin](location)`` is kept as its text without the markup and the
annotated spans (``start``/``end`` in that text, ``entity``, ``value``, ``role``, ``group``), in
every form Rasa 3 reads: ``[x](entity)``, ``[x](entity:value)``,
``[x]{"entity": "e", "value": "v", "role": "r", "group": "g"}`` and ``[x][{...}, {...}]`` (one span,
several annotations). ``synonym:``, ``regex:`` and ``lookup:`` items are kept as Rasa's YAML gives
them. Parsing only: ``retrieval/rasa_entities.py`` learns from it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# "[text](entity)", "[text](entity:value)", '[text]{"entity": ...}' and '[text][{...}, {...}]'.
ANNOTATION = re.compile(r"\[([^\]]*)\](\([^)]*\)|\{[^}]*\}|\[[^\]]*\])")


@dataclass(frozen=True)
class EntitySpan:
    """One annotated entity: where it is in the example's text and what it stands for."""

    start: int
    end: int
    entity: str
    # The annotated value, else the text it covers (Rasa's value when no synonym applies).
    value: str
    role: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class Example:
    """An intent's example as plain text, with its annotated entities."""

    intent: str
    text: str
    entities: tuple[EntitySpan, ...] = ()


@dataclass(frozen=True)
class Annotated:
    """An example line read: its plain text, its spans, and what could not be read (messages)."""

    text: str
    entities: tuple[EntitySpan, ...]
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Patterns:
    """A ``regex:`` (its patterns) or ``lookup:`` (its elements) item, by name."""

    name: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class NluData:
    """A project's NLU examples with their entities, and its synonyms, regexes and lookup tables."""

    examples: tuple[Example, ...] = ()
    # (variant as written, value it maps to), from ``synonym:`` items.
    synonyms: tuple[tuple[str, str], ...] = ()
    regexes: tuple[Patterns, ...] = ()
    lookups: tuple[Patterns, ...] = ()

    @property
    def entity_names(self) -> frozenset[str]:
        """The entities some example annotates (what an extractor can learn)."""
        return frozenset(span.entity for ex in self.examples for span in ex.entities)

    @property
    def annotated(self) -> bool:
        """Whether any example annotates an entity."""
        return any(ex.entities for ex in self.examples)

    def synonym_map(self) -> dict[str, str]:
        """Lower-cased text → value, as Rasa's EntitySynonymMapper learns it: the ``synonym:`` items
        and every annotation whose value differs from the text it covers."""
        out: dict[str, str] = {}
        for ex in self.examples:
            for span in ex.entities:
                written = ex.text[span.start:span.end]
                if written != span.value:
                    out[written.lower()] = span.value
        for variant, value in self.synonyms:
            if variant != value:
                out[variant.lower()] = value
        return out

    def fingerprint(self) -> str:
        """A digest of everything an entity extractor learns from: equal data, equal digest."""
        doc = {
            "examples": [[ex.intent, ex.text, [[s.start, s.end, s.entity, s.value, s.role, s.group]
                                               for s in ex.entities]] for ex in self.examples],
            "synonyms": [list(pair) for pair in self.synonyms],
            "regexes": [[p.name, list(p.items)] for p in self.regexes],
            "lookups": [[p.name, list(p.items)] for p in self.lookups],
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def plain_text(line: str) -> str:
    """``line`` without its entity markup (what the intent router learns)."""
    return ANNOTATION.sub(r"\1", line).strip()


def parse_annotated(line: str) -> Annotated:
    """Read an example line: its plain text (as ``plain_text``) and its annotated spans."""
    parts: list[str] = []
    length = 0
    spans: list[EntitySpan] = []
    problems: list[str] = []
    last = 0
    for match in ANNOTATION.finditer(line):
        before = line[last:match.start()]
        parts.append(before)
        length += len(before)
        written = match.group(1)
        found, problem = _annotations(match.group(2))
        if problem:
            problems.append(f"annotation {match.group(0)!r}: {problem}")
        spans += [EntitySpan(length, length + len(written), entity, value if value is not None else written,
                             role, group) for entity, value, role, group in found]
        parts.append(written)
        length += len(written)
        last = match.end()
    parts.append(line[last:])
    joined = "".join(parts)
    text = joined.strip()
    # Offsets count from the stripped text; a span of blanks alone at an edge keeps nothing.
    lead = len(joined) - len(joined.lstrip())
    kept = []
    for span in spans:
        start, end = max(span.start - lead, 0), min(span.end - lead, len(text))
        if end > start:
            kept.append(EntitySpan(start, end, span.entity, span.value, span.role, span.group))
        else:
            problems.append(f"annotation of {span.entity} covers no text")
    return Annotated(text, tuple(kept), tuple(problems))


_Found = tuple[str, str | None, str | None, str | None]


def _annotations(markup: str) -> tuple[list[_Found], str]:
    """The (entity, value, role, group) annotations of one markup, and a problem if unreadable."""
    if markup.startswith("("):
        inner = markup[1:-1]
        entity, sep, value = inner.partition(":")
        if not entity.strip():
            return [], "no entity name"
        return [(entity.strip(), value.strip() if sep and value.strip() else None, None, None)], ""
    try:
        parsed = json.loads(markup)
    except json.JSONDecodeError as err:
        return [], f"not valid JSON ({err.msg})"
    items = parsed if isinstance(parsed, list) else [parsed]
    out: list[_Found] = []
    for item in items:
        if not isinstance(item, Mapping) or not str(item.get("entity") or "").strip():
            return out, "each annotation needs an \"entity\""
        out.append((str(item["entity"]).strip(), _text(item.get("value")), _text(item.get("role")),
                    _text(item.get("group"))))
    return out, ""


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


__all__ = ["ANNOTATION", "Annotated", "EntitySpan", "Example", "NluData", "Patterns", "parse_annotated",
           "plain_text"]
