"""The language of a shopper's message: English (or too little to tell), or another language the
shop then answers with a short reply in it (``bot/engine/replies.py: other_language``).

Lingua (offline, Rust; Apache-2.0) chooses among a fixed set of languages: English and those a UK
shop's shoppers most likely write in. Short messages, product names, stock codes, prices and order
numbers count as English; the rule and the threshold were chosen on ``data/eval/languages.jsonl``
(docs/quality.md, "Languages").
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import lingua

# English and the languages a UK gift shop's shoppers most likely write in: those of its
# customers abroad (the demo's orders come from Germany, France, Spain, the Netherlands, Belgium,
# Switzerland, Portugal, Italy, the Nordic countries, Cyprus, Poland, Japan, Hong Kong and
# Singapore, among others) and Polish and Romanian, the UK's largest communities with another
# first language. Irish and Welsh are left out: their speakers write to a UK shop in English, and
# every language added is one more that short English can be mistaken for (and about 30 MiB).
LANGUAGES = {
    lingua.Language.ENGLISH: "English",
    lingua.Language.GERMAN: "German",
    lingua.Language.FRENCH: "French",
    lingua.Language.SPANISH: "Spanish",
    lingua.Language.ITALIAN: "Italian",
    lingua.Language.DUTCH: "Dutch",
    lingua.Language.PORTUGUESE: "Portuguese",
    lingua.Language.POLISH: "Polish",
    lingua.Language.SWEDISH: "Swedish",
    lingua.Language.DANISH: "Danish",
    lingua.Language.BOKMAL: "Norwegian",
    lingua.Language.FINNISH: "Finnish",
    lingua.Language.GREEK: "Greek",
    lingua.Language.ROMANIAN: "Romanian",
    lingua.Language.JAPANESE: "Japanese",
    lingua.Language.CHINESE: "Chinese",
}
# Another language answers when the detector gives it at least this confidence and this many
# times English's (chosen in docs/quality.md, "Languages": Lingua's confidences over 15
# languages are flat for short text, even English's for plain English).
THRESHOLD = 0.25
OVER_ENGLISH = 1.5
# Latin-script text needs this much to be told from English; other scripts are never English.
MIN_WORDS = 2
MIN_LETTERS = 8
# A message whose words are at least this share the catalogue's is a product name, in English.
PRODUCT_SHARE = 0.5
# Everyday English a shopper's short message is made of ("under a tenner", "only the red ones"):
# with the catalogue's words, half of a message's words in here make it English. Words other
# languages share (in, is, was, so, man) are left out.
COMMON_ENGLISH = frozenset((
    "a", "an", "the", "and", "or", "but", "of", "to", "for", "with", "at", "by", "from", "under",
    "over", "below", "above", "than", "up", "about", "it", "its", "this", "that", "these", "those",
    "them", "they", "one", "ones", "any", "anything", "something", "some", "do", "does", "did", "you",
    "your", "we", "our", "i", "me", "my", "have", "has", "got", "get", "show", "see", "want", "need",
    "please", "thanks", "thank", "only", "just", "also", "other", "others", "another", "more", "less",
    "much", "many", "cheaper", "cheapest", "bigger", "smaller", "what", "which", "how", "where",
    "when", "why", "who", "there", "here", "yes", "yeah", "no", "not", "too", "very", "same", "like",
    "ones", "tenner", "fiver", "quid", "pound", "pounds", "price", "cost", "costs", "how", "much",
    "order", "delivery", "deliver", "return", "refund", "first", "second", "third", "last", "next",
    # A product's stock and variants ("is it in stock?" read as Swedish before).
    "stock", "available", "colour", "colours", "color", "colors", "size", "sizes",
))

# Tokens that are no language: links, addresses and anything with a digit, a currency sign or a
# slash (stock codes, order numbers, prices, postcodes, quantities, dates).
_NOT_WORDS = re.compile(r"\S*(?:\d|@|://|[£$€/])\S*")
_WORD = re.compile(r"[^\W\d_]+")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
# The letters beyond a-z the Latin-script languages above write with. Text the detector finds
# foreign that has others (Czech ř, Hungarian ő, Icelandic ð, Vietnamese ơ) is in a language it
# does not know, which it would otherwise give to the nearest one it does.
_KNOWN_LETTERS = frozenset("äöüßàâæçéèêëîïôœùûÿáíñóúìòãõąćęłńśźżåøășțşţ")
_ACCENTED = re.compile(r"[\u00c0-\u024f\u1e00-\u1eff]")


@dataclass(frozen=True)
class Language:
    """A message's language: ISO 639-1 code, English name, and how sure the detector is (0-1).

    For another language, the confidence is the detector's that the message is not English; for
    English, that it is English, or 0 when the message held too little language to measure.
    """

    code: str
    name: str
    confidence: float

    @property
    def foreign(self) -> bool:
        """Whether the message is answered as one in another language than English."""
        return self.code != "en"


def words_of(text: str) -> list[str]:
    """The words of ``text`` that can carry a language (codes, numbers and prices removed)."""
    return _WORD.findall(_NOT_WORDS.sub(" ", text))


class LanguageDetector:
    """Tells the language of a shopper's message; ``run`` takes about 0.2 ms (docs/quality.md).

    ``vocabulary``: the catalogue's product names, whose words are the shop's English. The
    language models (about 430 MiB, loaded once per process) load in ``warm_up``.
    """

    def __init__(
        self,
        vocabulary: Iterable[str] = (),
        *,
        threshold: float = THRESHOLD,
        over_english: float = OVER_ENGLISH,
        languages: Iterable[lingua.Language] = tuple(LANGUAGES),
    ) -> None:
        self.threshold = threshold
        self.over_english = over_english
        self.languages = tuple(languages)
        self._vocabulary = frozenset(w.lower() for name in vocabulary for w in words_of(name))
        self._detector: lingua.LanguageDetector | None = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the language models (seconds, the first time in a process); idempotent."""
        with self._lock:
            if self._detector is None:
                self._detector = (lingua.LanguageDetectorBuilder.from_languages(*self.languages)
                                  .with_preloaded_language_models().build())

    def run(self, text: str) -> Language:
        """The language ``text`` is answered in: English unless enough of it is clearly another."""
        if text.lstrip().startswith("/"):
            return _english(0.0)  # a button's payload
        words = words_of(text)
        if not self._measurable(words):
            return _english(0.0)
        if self._detector is None:
            self.warm_up()
        assert self._detector is not None
        values = self._detector.compute_language_confidence_values(" ".join(words))
        english = next((v.value for v in values if v.language == lingua.Language.ENGLISH), 0.0)
        best = next((v for v in values if v.language != lingua.Language.ENGLISH), None)
        latin = _latin(words)
        if best is None or best.value < self.threshold or best.value < self.over_english * english:
            # A script none of the languages writes (Cyrillic, Arabic, Korean) is not English either.
            return _english(english) if latin else _unknown(english)
        if latin and any(c not in _KNOWN_LETTERS for w in words for c in _ACCENTED.findall(w.lower())):
            return _unknown(english)
        other = best.language
        return Language(other.iso_code_639_1.name.lower(), LANGUAGES.get(other, other.name.title()),
                        round(1.0 - english, 4))

    def _measurable(self, words: list[str]) -> bool:
        """Enough text to tell its language, and not a product's name."""
        if not _latin(words):
            return sum(len(w) for w in words) >= 2  # another script: never English
        if len(words) < MIN_WORDS or sum(len(w) for w in words) < MIN_LETTERS:
            return False
        known = sum(w.lower() in self._vocabulary or w.lower() in COMMON_ENGLISH for w in words)
        return known / len(words) < PRODUCT_SHARE


def _latin(words: list[str]) -> bool:
    return any(_LATIN.match(w) for w in words)


def _english(confidence: float) -> Language:
    """Answered as English: English, or too little text (or too unsure) to tell."""
    return Language("en", "English", round(confidence, 4))


def _unknown(english: float) -> Language:
    """Not English, in none of the languages above ("und": undetermined, as in BCP 47)."""
    return Language("und", "Unknown", round(1.0 - english, 4))
