"""The one verifier of generated text: do the evidence passages state every claim of a draft?

Evidence passages are ``Product.evidence()`` texts: a product's name, category, price and
stock code, then its fact sentences ("It costs £4.15 (it has sold for £4.15 to £8.29).", "It
was in 27 orders, ...", "We have sent it to ...", "It is often bought with the ...", "It is
pink.", "It is made of glass."). A draft is verified only when every claim in it is a fact of
the product of the passages it is said of:

- names: the draft names a product of the passages exactly (case and punctuation aside); a
  cut, extended or mashed-up name names nothing, and its extra words are claims like any other;
- prices: every £ amount is one of that product's prices (current or the range it sold for);
- other numbers (orders, quantities, pack, percentages, stock code) stand in one fact
  sentence together with the word they are said of: "in 6 orders" needs a sentence with both
  6 and "orders", not the 6 of "shoppers usually buy 6";
- words (colours, materials, countries, categories, ...): each is in a fact sentence of that
  product, and two words said together ("made of pink") in the same one; a product it is
  "bought with" must be on that product's own list;
- "yes" or "no" is an answer, and the passages give one only to whether the shop sells it;
- a draft that names no product of the passages, or says nothing about the one it names, is
  not an answer.

The grounding score is the share of the draft's claim words its product's facts hold, and
0.0 when any claim is unsupported: the ``ungrounded`` flag (``monitoring/flags.py``) is then
raised exactly on the drafts this verifier refuses, whatever its threshold in (0, 1].
Measured against a person's labels in docs/quality.md ("Generated answers: verified or
withheld").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
# A price or number (with its £ or %), a word, or punctuation that separates claims.
_TOKEN = re.compile(r"£?\d+(?:\.\d+)?%?|[a-z][a-z0-9'/+-]*|[,;()]|(?<!\d)\.(?!\d)|\.$")
_PUNCTUATION = frozenset({",", ";", "(", ")", "."})
_SEPARATORS = _PUNCTUATION | {"and", "or"}
# The layout of ``Product.evidence()``: name, category, price, stock code, then the facts.
_PASSAGE = re.compile(r"^(?P<name>.*?)\. (?P<category>[^.]*)\. Price (?P<price>£\d+\.\d\d)\. "
                      r"Stock code (?P<code>\S+?)\.(?: (?P<facts>.*))?$", re.S)
_FACT_SPLIT = re.compile(r"(?<=\.)\s+(?=[A-Z])")
_BOUGHT_WITH = re.compile(r"^It is often bought with the (?P<names>.+)\.$")
# Words that carry no claim by themselves. Unlike monitoring.flags' stop words, "was" stays a
# claim word: it is the one verb of a single fact ("was in 27 orders"), and "was in 4 at a
# time" mixes two facts.
STOP = frozenset({
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "is", "are", "were", "be",
    "been", "it", "its", "this", "that", "these", "those", "with", "as", "at", "by", "from",
    "our", "we", "you", "your", "i", "me", "my", "can", "will", "would", "could", "should", "do",
    "does", "has", "have", "had", "not", "so", "if", "but", "all", "any", "also", "just", "very",
    "more", "most", "some", "there", "here", "what", "which", "who", "how", "when", "where", "why",
})
# Restating that the product is on sale, in the shop's range: true of every passage's product.
FRAME = frozenset({"part", "range", "sell", "sells", "stock", "item", "product", "price", "priced"})
ANSWERS = frozenset({"yes", "no"})
# The one yes-or-no question the passages answer: whether the shop has the product at all.
_HAVE_QUESTION = re.compile(r"\b(?:do|does|can)\s+(?:you|we|i)\s+(?:sell|have|stock|carry|buy|get)\b",
                            re.I)


@dataclass(frozen=True)
class Name:
    """A product's name standing for the product in a claim (``is often bought with the X``)."""

    key: str


Token = str | Name


@dataclass(frozen=True)
class ProductFacts:
    """One passage read as its product's name and fact sentences, each a set of tokens."""

    name: str
    facts: tuple[frozenset[Token], ...]
    prices: frozenset[str]
    bought_with: frozenset[str]


@dataclass(frozen=True)
class Verdict:
    """A draft judged against its passages."""

    draft: str
    verified: bool
    grounding: float  # share of the claim words supported; 0.0 when any claim is unsupported
    unsupported: tuple[str, ...]  # the claims the passages do not state, as the draft words them
    evidence: tuple[str, ...]  # the passages of the products the draft names


@dataclass(frozen=True)
class _Claim:
    token: Token
    product: int | None  # the passage of the product it is said of
    piece: int  # claims in one piece are said together (no separator between them)


def numbers(text: str) -> set[str]:
    """The numbers and prices in ``text``, as whole tokens ("6" is not in "60")."""
    return set(_NUMBER.findall(text))


def unsupported_claims(answer: str, evidence: str) -> list[str]:
    """Numbers and prices in ``answer`` that ``evidence`` does not hold."""
    held = numbers(evidence)
    return [n for n in _NUMBER.findall(answer) if n not in held]


def tokens(text: str) -> list[str]:
    """Lower-cased words, numbers (their £ and % kept) and punctuation, in order."""
    return _TOKEN.findall(text.lower().replace("&", " "))


def name_key(name: str) -> str:
    """A product name as compared: its words, case and punctuation aside."""
    return " ".join(t for t in tokens(name) if t not in _PUNCTUATION)


def read_passage(passage: str) -> ProductFacts:
    """A ``Product.evidence()`` passage as its product's facts; other text is one fact."""
    found = _PASSAGE.match(passage.strip())
    if found is None:
        words = _content(passage)
        prices = frozenset(t for t in words if isinstance(t, str) and t.startswith("£"))
        return ProductFacts(passage.split(". ", 1)[0], (words,), prices, frozenset())
    sentences = [f"It is in our {found['category']} range.", f"Price {found['price']}.",
                 f"Stock code {found['code']}.", *_FACT_SPLIT.split(found["facts"] or "")]
    facts: list[frozenset[Token]] = []
    bought: frozenset[str] = frozenset()
    for sentence in sentences:
        listed = _BOUGHT_WITH.match(sentence)
        if listed:
            bought = frozenset(name_key(n) for n in _list_names(listed["names"]))
            facts.append(frozenset({"often", "bought", *(Name(n) for n in bought)}))
        else:
            facts.append(_content(sentence))
    prices = frozenset(t for fact in facts for t in fact if isinstance(t, str) and t.startswith("£"))
    return ProductFacts(found["name"], tuple(facts), prices, bought)


def verify(draft: str, passages: Sequence[str], question: str = "") -> Verdict:
    """Whether every claim of ``draft`` is a fact of a product of ``passages`` (see the module)."""
    products = [read_passage(p) for p in passages]
    claims, named = _claims(draft, products)
    problems = [] if named else ["no product of the passages named"]
    supported = 0
    for i, claim in enumerate(claims):
        if claim.token in ANSWERS:
            if not _HAVE_QUESTION.search(question):
                problems.append(str(claim.token))
        elif _supported(claims, i, products):
            supported += 1
        else:
            problems.append(claim.token.key if isinstance(claim.token, Name) else claim.token)
    stated = [c for c in claims if c.token not in ANSWERS]
    if named and not stated:
        problems.append("nothing said of the product")
    score = supported / len(stated) if stated and not problems else 0.0
    return Verdict(draft, not problems, score, tuple(problems), tuple(passages[i] for i in sorted(named)))


def _content(text: str) -> frozenset[Token]:
    return frozenset(t for t in tokens(text) if t not in STOP and t not in _PUNCTUATION)


def _list_names(text: str) -> set[str]:
    """Every name an "A, B and C" list may hold (a name may itself contain ", " or " and ")."""
    parts = [p.strip() for p in re.split(r",\s*| and ", text) if p.strip()]
    spans = [(i, j) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)]
    return {", ".join(parts[i:j]) for i, j in spans} | {" and ".join(parts[i:j]) for i, j in spans}


def _claims(draft: str, products: list[ProductFacts]) -> tuple[list[_Claim], set[int]]:
    """The draft's claim tokens, each with the product it is said of, and the products named.

    A sentence's claims are about the product it names (before the name too: "We have sent
    the X to ..."), or about the product the sentence before named; after a second name, about
    that one.
    """
    subjects = {name_key(p.name): i for i, p in reversed(list(enumerate(products)))}
    objects = set().union(*(p.bought_with for p in products)) if products else set()
    claims: list[_Claim] = []
    named: set[int] = set()
    subject: int | None = None
    piece = 0
    for sentence in _sentences(_mark_names(tokens(draft), subjects, objects)):
        first = next((t for t in sentence if isinstance(t, int)), None)
        subject = first if first is not None else subject
        for t in sentence:
            if isinstance(t, int):
                subject, piece = t, piece + 1
                named.add(t)
            elif isinstance(t, str) and t in _SEPARATORS:
                piece += 1
            elif not (isinstance(t, str) and (t in STOP or t in FRAME)):
                claims.append(_Claim(t, subject, piece))
        piece += 1
    return claims, named


def _supported(claims: list[_Claim], i: int, products: list[ProductFacts]) -> bool:
    claim = claims[i]
    if claim.product is None:
        return False
    product, t = products[claim.product], claim.token
    if _is_number(t) and isinstance(t, str) and t.startswith("£"):
        return t in product.prices
    if not any(t in fact for fact in product.facts):
        return False
    if _is_number(t):
        anchor = _anchor(claims, i)
        return anchor is None or any(t in fact and anchor in fact for fact in product.facts)
    before = claims[i - 1] if i > 0 else None
    if before is None or before.piece != claim.piece or before.product != claim.product \
            or _is_number(before.token) or before.token in ANSWERS:
        return True
    return any(t in fact and before.token in fact for fact in product.facts)


def _anchor(claims: list[_Claim], i: int) -> Token | None:
    """The word a number is said of: the nearest word before it about the same product, else
    the nearest after it."""
    product = claims[i].product
    words = [j for j, c in enumerate(claims)
             if c.product == product and not _is_number(c.token) and c.token not in ANSWERS]
    before, after = [j for j in words if j < i], [j for j in words if j > i]
    found = before[-1] if before else after[0] if after else None
    return claims[found].token if found is not None else None


def _is_number(t: Token) -> bool:
    return isinstance(t, str) and (t[0].isdigit() or t[0] == "£")


def _mark_names(draft: list[str], subjects: dict[str, int], objects: set[str]) -> list[Token | int]:
    """The draft's tokens with names replaced, longest first: a passage's product by its index,
    a product it is bought with by a :class:`Name`."""
    by_first: dict[str, list[list[str]]] = {}
    for key in sorted({*subjects, *objects}, key=lambda k: -len(k.split())):
        by_first.setdefault(key.split()[0], []).append(key.split())
    out: list[Token | int] = []
    i = 0
    while i < len(draft):
        end, key = 0, ""
        for words in by_first.get(draft[i], []):
            end = _spelt(draft, i, words)
            if end:
                key = " ".join(words)
                break
        if not end:
            out.append(draft[i])
            i += 1
            continue
        # "bought with the X": X is what the product is bought with, even when it is on show too.
        after_bought = "bought" in out[-3:]
        out.append(subjects[key] if key in subjects and not (after_bought and key in objects) else Name(key))
        i = end
    return out


def _spelt(draft: list[str], start: int, words: list[str]) -> int:
    """Where ``words`` ends if the draft spells it from ``start``, punctuation inside aside
    ("Colour Glass. Star", "Scissor(Pointed Edge)"); 0 if it does not."""
    i = start
    for n, word in enumerate(words):
        while n and i < len(draft) and draft[i] in _PUNCTUATION:
            i += 1
        if i >= len(draft) or draft[i] != word:
            return 0
        i += 1
    return i


def _sentences(marked: list[Token | int]) -> list[list[Token | int]]:
    out: list[list[Token | int]] = [[]]
    for t in marked:
        if t == ".":
            out.append([])
        else:
            out[-1].append(t)
    return [s for s in out if s]
