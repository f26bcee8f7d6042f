"""Shoppers' names: cue words ("my name is", "I'm", "name:") checked against the NER model.

* After a strong cue ("my name is", "name:", "call me", "regards,") the next word is a name unless
  it is a common word ("my name is on the order"); the words after it are part of the name when
  capitalised or, with the model, tagged as proper nouns or as a PERSON.
* After a weak cue ("I'm", "I am", "this is", "it's") the next word is a name only when the model
  tags it PERSON (without the model: capitalised and not a common word), so "I'm looking for" and
  "I'm after a mug" stay.
* Without a cue, a capitalised PERSON counts only as whom something is for ("deliver it to
  Jamie at ...", "send it to Emma Smith please"): brands are named like people ("do you stock
  Orla Kiely?") and are kept; so is a PERSON followed by a noun ("for Emma Bridgewater fans").

Whatever the shop sells is never a name: words found together in one product name of the
catalogue ("Dolly Girl" in "Dolly Girl Lunch Box") are kept (:class:`ProductWords`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from monitoring.ner import Entities, EntityTagger

_WORD = r"[^\W\d_][^\W\d_'’-]*(?:['’-][^\W\d_]+)*"
_WORD_RE = re.compile(_WORD)
_STRONG = re.compile(
    r"\b(?:my\s+(?:(?:full|first|last|sur|given|family)\s*)?name(?:'s|’s|\s+is)|"
    r"(?:(?:full|first|last|sur|given|family)\s*)?name\s*(?:[:=]|-\s)|"
    r"call\s+me|i\s+go\s+by|the\s+name(?:'s|’s|\s+is)|(?:under|in)\s+the\s+name(?:\s+of)?|"
    r"(?:^|(?<=,))\s*name\s+(?=[A-Z]))\s*",
    re.IGNORECASE,
)
# Sign-offs: "thanks, Sarah" signs a name, "thanks, got it" does not; read as weak cues.
_SIGN_OFF = re.compile(
    r"\b(?:(?:kind\s+|best\s+|warm\s+)?regards,?|cheers,|many\s+thanks,|thanks,|thank\s+you,|sincerely,|"
    r"signed,?|yours,|love,)\s*",
    re.IGNORECASE,
)
_WEAK = re.compile(r"\b(?:i\s*'?\s*m|i\s+am|this\s+is|it\s*'?s|it\s+is|here\s+is|here'?s|"
                   r"(?:customer|shopper|buyer|client|recipient)\s+(?:is|was))\s+", re.IGNORECASE)
# Words that follow a cue without being a name: "call me back", "I'm after", "this is great".
_COMMON_WORDS = """
a an the and or but if so to of in on at by for with from into onto about as than then that this these those
it its it's is am are was were be been being do does did done have has had having will would can could
shall should may might must not no yes nor too very just only also still even really quite rather
i me my mine we us our you your he him his she her they them their there here what which who whom whose
when where why how all any some each every both either neither none one two three four five six
please thanks thank hi hello hey dear sorry ok okay sure fine well good great happy glad unhappy sad
looking after interested trying wondering waiting hoping asking calling writing emailing contacting
getting going coming having buying ordering returning checking sending still back now today again
new old afraid annoyed angry disappointed confused worried keen ready about around unable able
not never always busy home away out up down over off here there later soon tomorrow yesterday
on in the ringing texting chasing following replying reaching messaging planning thinking
customer shopper buyer member regular guest fan mum dad mother father parent teacher nurse
order parcel package delivery refund return item product mug box bag card gift voucher
because since while though although until unless whether like love need want wanted wish
much many more most less least few lot lots bit little big small same different other another
"""
COMMON = frozenset(_COMMON_WORDS.split())
_NOUNS = frozenset({"NOUN", "PROPN"})
_NAME_POS = frozenset({"PROPN", "NOUN", "ADJ", "X", "INTJ"})


@dataclass(frozen=True)
class NameSpan:
    """A name found: where it is."""

    start: int
    end: int


@dataclass(frozen=True)
class ProductWords:
    """The catalogue's product names as words, to tell "Dolly Girl" (sold here) from a shopper."""

    names: tuple[frozenset[str], ...] = ()
    _index: dict[str, frozenset[int]] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def of(cls, product_names: Iterable[str]) -> ProductWords:
        """The vocabulary of ``product_names``."""
        return cls(tuple(frozenset(w.lower() for w in _WORD_RE.findall(n)) for n in product_names))

    def __post_init__(self) -> None:
        index: dict[str, set[int]] = {}
        for i, words in enumerate(self.names):
            for word in words:
                index.setdefault(word, set()).add(i)
        self._index.update({w: frozenset(ids) for w, ids in index.items()})

    def together(self, words: Iterable[str]) -> bool:
        """Whether every one of ``words`` appears in one and the same product name."""
        common: frozenset[int] | None = None
        for word in words:
            ids = self._index.get(word.lower(), frozenset())
            common = ids if common is None else common & ids
            if not common:
                return False
        return bool(common)

    def sold(self, text: str, start: int, end: int) -> bool:
        """Whether ``text[start:end]`` is part of a product name: its words, with a word right
        next to it when there is one, are two or more words of one product."""
        inner = _WORD_RE.findall(text[start:end])
        before = re.search(rf"({_WORD})\s+$", text[max(0, start - 40):start])
        after = re.match(rf"\s+({_WORD})", text[end:end + 40])
        candidates = [inner]
        if before:
            candidates.append([before.group(1), *inner])
        if after:
            candidates.append([*inner, after.group(1)])
        return any(len(words) >= 2 and self.together(words) for words in candidates)


class NameFinder:
    """Finds shoppers' names; ``tagger`` (loaded by its owner) may be None: cue rules only."""

    def __init__(self, tagger: EntityTagger | None = None, products: ProductWords | None = None) -> None:
        self.tagger = tagger
        self.products = products or ProductWords()

    def spans(self, text: str) -> list[NameSpan]:
        """Names in ``text`` (normalised); runs the NER model only when a cue word or a recipient
        ("to Jamie") could hold a name, so most messages cost nothing."""
        strong = list(_STRONG.finditer(text))
        weak = list(_WEAK.finditer(text)) + list(_SIGN_OFF.finditer(text))
        entities = Entities()
        if self.tagger is not None and (strong or weak or _RECIPIENT_HINT.search(text)):
            entities = self.tagger.run(text)
        found: list[NameSpan] = []
        for cue in strong:
            found += self._after(text, cue.end(), entities, strong=True)
        for cue in weak:
            found += self._after(text, cue.end(), entities, strong=False)
        found += self._uncued(text, entities)
        return [s for s in found if not self.products.sold(text, s.start, s.end)]

    def _after(self, text: str, at: int, entities: Entities, *, strong: bool) -> list[NameSpan]:
        first = re.match(_WORD, text[at:])
        if first is None or _common(first.group(0)):
            return []
        start, end = at, at + first.end()
        tagged = self.tagger is not None
        if not strong and not _HERE.match(text, end):
            person = entities.person_at(start, end)
            plain = not tagged and first.group(0)[0].isupper()
            if not (person or plain):
                return []
        # Up to two more words: "jane smith", "Mary Ann Jones".
        for _ in range(2):
            more = re.match(rf"\s+({_WORD})", text[end:])
            if more is None:
                break
            word, word_start = more.group(1), end + more.start(1)
            if _common(word):
                break
            if strong:
                # "name: priya patel": after a strong cue any name-like word goes on the name.
                ok = not tagged or entities.pos_at(word_start) in _NAME_POS
            elif tagged:
                ok = entities.person_at(word_start, word_start + len(word)) or (
                    word[0].isupper() and entities.pos_at(word_start) == "PROPN")
            else:
                ok = word[0].isupper()
            if not ok:
                break
            end = word_start + len(word)
        return [NameSpan(start, end)]

    def _uncued(self, text: str, entities: Entities) -> list[NameSpan]:
        out = []
        for start, end in entities.persons:
            words = _WORD_RE.findall(text[start:end])
            if not words or not all(w[0].isupper() and not _common(w) for w in words):
                continue
            if not _RECIPIENT.search(text[max(0, start - 20):start]):
                continue  # a brand is named as freely as a person: "do you stock Orla Kiely?"
            after = re.match(r"\s+", text[end:])
            if after is not None and entities.pos_at(end + after.end()) in _NOUNS:
                continue  # a brand or a line: "Emma Bridgewater mugs"
            out.append(NameSpan(start, end))
        return out


def _common(word: str) -> bool:
    """Whether ``word`` (its part before an apostrophe: "that's") is a common word."""
    return re.split(r"['’]", word.lower(), maxsplit=1)[0] in COMMON


_HERE = re.compile(r"\s+(?:here|speaking)\b", re.IGNORECASE)
# Who a parcel or a gift is for: "deliver it to Jamie at ...", "send it to Emma Smith please".
_RECIPIENT = re.compile(r"\b(?:to|for|attn:?|attention(?:\s+of)?|c/o|recipient:?)\s+$", re.IGNORECASE)
_RECIPIENT_HINT = re.compile(r"\b(?:to|for|attn|attention|c/o|recipient)\b\W*\s[A-Z]")

__all__ = ["COMMON", "NameFinder", "NameSpan", "ProductWords"]
