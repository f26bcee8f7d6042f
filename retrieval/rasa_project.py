"""A Rasa 3 project directory read as Shopbot's knowledge (``SHOPBOT_RASA_PROJECT``).

The layout ``rasa train`` reads: the domain (``domain.yml`` or a ``domain/`` directory), every
YAML file under ``data/`` (nested folders too) with ``nlu:``, ``responses:``, ``rules:`` and
``stories:`` sections, ``endpoints.yml`` (the action server), ``config.yml`` and
``credentials.yml``. The router learns the NLU intents (retrieval intents such as
``chitchat/ask_name`` as labels of their own); responses, turns, continuations (rules and stories
in their context, ``retrieval/rasa_flows.py``), slots and forms are what ``bot/rasa`` answers with. What
Shopbot leaves out or runs differently is in ``issues`` (``shopbot rasa-check``). Parsing only:
nothing here runs a turn.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import BadRequest
from retrieval.knowledge import KnowledgeEntry, make_entry, validate_entries
from retrieval.rasa_duckling import SUPPORTED as DUCKLING_SUPPORTED
from retrieval.rasa_flows import (
    CHANGED,
    DEFAULT_MAX_HISTORY,
    UNSUPPORTED,
    Continuation,
    Flow,
    Issue,
    check_actions,
    parse_flows,
    resolve_flows,
)
from retrieval.rasa_nlu import Example, NluData, Patterns, parse_annotated
from retrieval.rasa_yaml import YamlMap, line_of, read_mapping

OUT_OF_SCOPE = "out_of_scope"
NLU_FALLBACK = "nlu_fallback"
_YAML = (".yml", ".yaml")
_DOMAIN_LISTS = ("intents", "entities", "actions", "e2e_actions")
_DOMAIN_MAPS = ("slots", "responses", "forms", "session_config", "config")
_ENV = re.compile(r"\$\{([^}]+)\}")
# Duckling's dimensions (what an extractor without a `dimensions` list asks for).
DUCKLING_DIMENSIONS = frozenset({"amount-of-money", "credit-card-number", "distance", "duration", "email",
                                 "number", "ordinal", "phone-number", "quantity", "temperature", "time",
                                 "url", "volume"})
_CORE_POLICIES = frozenset({"RulePolicy", "MemoizationPolicy", "AugmentedMemoizationPolicy", "TEDPolicy",
                            "UnexpecTEDIntentPolicy"})
_MEMOIZATION = frozenset({"MemoizationPolicy", "AugmentedMemoizationPolicy"})
_CHANNELS = frozenset({"rest", "socketio", "rasa"})  # "rasa" is Rasa X/Enterprise's own channel
_SHOWN_KEYS = frozenset({"text", "buttons", "image", "custom", "attachment", "quick_replies", "elements"})
_QUIET_KEYS = frozenset({"condition", "channel", "id", "metadata", "button_type"})
_SLOT_MAPPINGS = frozenset({"from_entity", "from_intent", "from_text", "from_trigger_intent", "custom"})
REQUESTED_SLOT = "requested_slot"
# The slot a form keeps the name of the slot it asked for in, when the domain does not declare it.
_REQUESTED_SPEC = {"type": "any", "influence_conversation": False, "mappings": [{"type": "custom"}]}


@dataclass(frozen=True)
class Form:
    """A form of the domain (``forms:``), as Rasa 3 reads it."""

    name: str
    required_slots: tuple[str, ...]
    # Intents whose messages fill none of its slots while it is active.
    ignored_intents: frozenset[str] = frozenset()
    # Whether the domain has its validation action ``validate_<name>`` (run on the action server).
    validate: bool = False


@dataclass(frozen=True)
class RasaProject:
    """What a Rasa project holds that Shopbot runs, and what it leaves out."""

    root: Path
    # What the router learns: every intent with examples, retrieval intents as labels of their own.
    entries: tuple[KnowledgeEntry, ...]
    # Response name → its variants, from the domain and every data file.
    responses: Mapping[str, tuple[Mapping[str, Any], ...]]
    # Intent (router label or button payload) → the actions that answer it wherever it comes.
    turns: Mapping[str, tuple[str, ...]]
    slots: Mapping[str, Mapping[str, Any]]
    # The domain as an action server receives it (responses from data files included).
    domain: Mapping[str, Any]
    # endpoints.yml's action_endpoint url; empty when the project has none.
    action_endpoint: str
    # The project's rasa-sdk actions (an ``actions/`` package or ``actions.py``), if any.
    actions_path: Path | None
    issues: tuple[Issue, ...]
    # Intent → the rules' and stories' answers in their context (retrieval/rasa_flows.py: choose).
    continuations: Mapping[str, tuple[Continuation, ...]] = field(default_factory=dict)
    # How many of a conversation's latest states memoization looks at (config.yml, else Rasa's 5);
    # None: all of them.
    max_history: int | None = DEFAULT_MAX_HISTORY
    # The Duckling dimensions config.yml's DucklingEntityExtractor asks for that Shopbot reads in
    # process (retrieval/rasa_duckling.py); empty without one.
    duckling: frozenset[str] = frozenset()
    # The forms that run, by name.
    forms: Mapping[str, Form] = field(default_factory=dict)
    # Form → what runs once it is done (its submit rule; retrieval/rasa_flows.py: choose_after_loop).
    after_loop: Mapping[str, tuple[Continuation, ...]] = field(default_factory=dict)
    # The NLU examples with their entities, synonyms, regexes and lookup tables (entity extraction).
    nlu: NluData = field(default_factory=NluData)

    @property
    def labels(self) -> frozenset[str]:
        """The intents the router learns."""
        return frozenset(e.id for e in self.entries)


def load_rasa_project(path: Path) -> RasaProject:
    """Read the project at ``path``; a broken or missing part is a ``BadRequest`` naming it."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise BadRequest(f"{root}: not a directory; give the folder of a Rasa project "
                         "(the one holding domain.yml and data/)")
    issues: list[Issue] = []
    form_where: dict[str, tuple[str, int]] = {}
    domain, domain_responses = _read_domain(root, issues, form_where)
    data = _read_data(root, issues)
    responses = {**domain_responses, **data.responses}
    endpoint = _endpoint(root, issues)
    actions_path = _actions_path(root)
    max_history, duckling = _check_config(root, issues)
    _check_credentials(root, issues)
    custom = _custom_actions(domain)
    slots = _slots(domain.get("slots"))
    forms, broken_forms = _forms(domain.get("forms") or {}, slots, custom, bool(endpoint or actions_path),
                                 form_where, issues)
    if forms and REQUESTED_SLOT not in slots:
        slots[REQUESTED_SLOT] = dict(_REQUESTED_SPEC)
    cannot_run = check_actions(responses, custom, forms, bool(endpoint or actions_path), broken_forms)
    resolved = resolve_flows(data.flows, cannot_run, slots, max_history, forms)
    issues += resolved.issues
    turns = _label_turns(data, resolved.turns, resolved.continuations, responses, issues, bool(forms))
    entries = tuple(validate_entries(
        (make_entry(intent, questions, _first_text(turns.get(intent, ()), responses), intent)
         for intent, questions in data.examples.items() if questions),
        str(root / "data"),
    ))
    issues += [Issue(*data.where[intent], UNSUPPORTED, f"intent {intent} has no examples: not learned")
               for intent, questions in data.examples.items() if not questions]
    issues = [i for i in issues if not _typed(i, data.nlu(), duckling)]
    if not entries:
        raise BadRequest(f"{root}: no intents with examples under data/ (an 'nlu:' section)")
    full_domain = {**domain, "responses": {k: [dict(v) for v in vs] for k, vs in responses.items()}}
    return RasaProject(
        root=root, entries=entries, responses=responses, turns=turns,
        slots=slots, domain=full_domain, action_endpoint=endpoint,
        actions_path=actions_path, issues=tuple(sorted(issues, key=lambda i: (i.file, i.line))),
        continuations=resolved.continuations, max_history=max_history, duckling=duckling,
        forms=forms, after_loop=resolved.after_loop, nlu=data.nlu(),
    )


# --- The domain ----------------------------------------------------------------------------------

def _read_domain(
    root: Path, issues: list[Issue], form_where: dict[str, tuple[str, int]] | None = None
) -> tuple[dict[str, Any], dict[str, tuple[Any, ...]]]:
    """The merged domain (a file, or every YAML file of a ``domain/`` directory) and its responses;
    where each form is declared goes to ``form_where`` (file, line)."""
    single = _first_file(root, "domain")
    files = [single] if single is not None else (
        _yaml_files(root / "domain") if (root / "domain").is_dir() else [])
    if not files:
        raise BadRequest(f"{root}: no domain.yml, domain.yaml or domain/ directory: is this a Rasa project?")
    domain: dict[str, Any] = {}
    responses: dict[str, tuple[Any, ...]] = {}
    for path in files:
        shown = _rel(path, root)
        doc = read_mapping(path, shown)
        for key, value in doc.items():
            if key == "responses":
                responses.update(_responses(value, shown, issues))
            elif key in _DOMAIN_LISTS:
                if value is not None and not isinstance(value, list):
                    raise BadRequest(f"{shown}:{doc.line_of(key)}: '{key}' must be a list")
                domain.setdefault(key, []).extend(value or [])
            elif key in _DOMAIN_MAPS:
                if value is not None and not isinstance(value, dict):
                    raise BadRequest(f"{shown}:{doc.line_of(key)}: '{key}' must be a mapping")
                domain.setdefault(key, {}).update(value or {})
                if key == "forms" and form_where is not None:
                    form_where.update({str(name): (shown, _line(value, name)) for name in value or {}})
                if key == "slots":
                    _check_slots(value or {}, shown, issues)
            elif key != "version":
                domain[key] = value
    return domain, responses


def _custom_actions(domain: Mapping[str, Any]) -> list[str]:
    names = []
    for item in domain.get("actions") or []:
        name = next(iter(item)) if isinstance(item, dict) and item else item
        if isinstance(name, str) and not name.startswith("utter_"):
            names.append(name)
    return names


def _check_slots(slots: Mapping[str, Any], shown: str, issues: list[Issue]) -> None:
    for name, spec in slots.items():
        for mapping in (spec or {}).get("mappings") or [] if isinstance(spec, dict) else []:
            if not isinstance(mapping, dict):
                continue
            kind, at = mapping.get("type"), line_of(mapping, _line(slots, name))
            if kind not in _SLOT_MAPPINGS:
                issues.append(Issue(shown, at, UNSUPPORTED, f"slot {name}: mapping {kind} is not applied"))
            elif kind == "from_entity":
                # Kept only when no example annotates the entity (load_rasa_project: _typed).
                issues.append(Issue(shown, at, CHANGED, (
                    f"slot {name}: filled from entity {mapping.get('entity')} only when a button "
                    "payload carries it: no example annotates it and no regex or lookup table is "
                    "named after it, so it is never found in typed text")))


_FROM_ENTITY = re.compile(r"slot \S+: filled from entity (\S+) only when a button payload carries it")


def _typed(issue: Issue, nlu: NluData, duckling: frozenset[str]) -> bool:
    """Whether ``issue`` is a ``from_entity`` note about an entity found in typed text: annotated in
    an example, named by a regex or lookup table of an annotated project, or a Duckling dimension."""
    found = _FROM_ENTITY.match(issue.message)
    if found is None:
        return False
    names = set(duckling)
    if nlu.annotated:
        names |= nlu.entity_names | {p.name for p in (*nlu.regexes, *nlu.lookups)}
    return found.group(1) in names


def _forms(
    declared: Mapping[str, Any], slots: Mapping[str, Any], custom: list[str], actions_reachable: bool,
    where: Mapping[str, tuple[str, int]], issues: list[Issue],
) -> tuple[dict[str, Form], dict[str, str]]:
    """The domain's forms that run, and why each other one does not (also listed as an issue)."""
    forms: dict[str, Form] = {}
    broken: dict[str, str] = {}
    for key, value in declared.items():
        name = str(key)
        spec = value if isinstance(value, dict) else {}
        required = spec.get("required_slots") or []
        ignored = spec.get("ignored_intents") or []
        validate = f"validate_{name}" in custom
        if isinstance(required, dict) or set(map(str, spec)) - {"required_slots", "ignored_intents"}:
            why = ("it maps slots to their mappings (Rasa 2's layout); Rasa 3 lists slot names under "
                   "required_slots and keeps the mappings with the slots")
        elif not isinstance(required, list) or not all(isinstance(s, str) for s in required):
            why = "required_slots must be a list of slot names"
        elif missing := [s for s in required if s not in slots]:
            why = f"required slot {', '.join(missing)} is not among the domain's slots"
        elif validate and not actions_reachable:
            why = f"its validate_{name} action needs an action server in endpoints.yml or an actions package"
        else:
            ignored_intents = frozenset(map(str, ignored if isinstance(ignored, list) else [ignored]))
            forms[name] = Form(name, tuple(required), ignored_intents, validate)
            continue
        broken[name] = why
        file, line = where.get(name, ("domain.yml", 1))
        issues.append(Issue(file, line, UNSUPPORTED, f"form {name} is not run: {why}"))
    return forms, broken


def _slots(slots: Any) -> dict[str, Mapping[str, Any]]:
    if not isinstance(slots, dict):
        return {}
    return {str(name): dict(spec) if isinstance(spec, dict) else {} for name, spec in slots.items()}


# --- Training data --------------------------------------------------------------------------------

@dataclass
class _Data:
    examples: dict[str, list[str]]
    # Where each intent's examples first appear (file, line).
    where: dict[str, tuple[str, int]]
    responses: dict[str, tuple[Mapping[str, Any], ...]]
    flows: list[Flow]
    # The examples with their entities, and the synonym/regex/lookup items (retrieval/rasa_nlu.py).
    nlu_examples: list[Example] = field(default_factory=list)
    synonyms: list[tuple[str, str]] = field(default_factory=list)
    regexes: list[Patterns] = field(default_factory=list)
    lookups: list[Patterns] = field(default_factory=list)
    # Each synonym/regex/lookup item (file, line, kind, name) and the issues last listed for them:
    # whether they are used depends on annotations that a later file may hold.
    nlu_items: list[tuple[str, int, str, str]] = field(default_factory=list)
    nlu_item_issues: list[Issue] = field(default_factory=list)

    def nlu(self) -> NluData:
        """The NLU data an entity extractor learns from."""
        return NluData(tuple(self.nlu_examples), tuple(self.synonyms), tuple(self.regexes),
                       tuple(self.lookups))


def _read_data(root: Path, issues: list[Issue]) -> _Data:
    data_dir = root / "data"
    if not data_dir.is_dir():
        raise BadRequest(f"{root}: no data/ directory (Rasa's training data)")
    out = _Data({}, {}, {}, [])
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        shown = _rel(path, root)
        if path.suffix.lower() not in _YAML:
            issues.append(Issue(shown, 1, UNSUPPORTED, "not read: Rasa 3 training data is YAML"))
            continue
        doc = read_mapping(path, shown)
        for key, value in doc.items():
            if key == "nlu":
                _nlu(value, shown, out, issues)
            elif key == "responses":
                out.responses.update(_responses(value, shown, issues))
            elif key in ("rules", "stories"):
                out.flows += parse_flows(value, key[:-1] if key == "rules" else "story", shown)
            elif key != "version":
                issues.append(Issue(shown, doc.line_of(key), UNSUPPORTED, f"section '{key}' is not read"))
    return out


def _nlu(items: Any, shown: str, out: _Data, issues: list[Issue]) -> None:
    if not isinstance(items, list):
        raise BadRequest(f"{shown}:{line_of(items, 1)}: 'nlu' must be a list")
    entities: dict[str, int] = {}
    for item in items:
        at = line_of(item)
        if not isinstance(item, dict):
            raise BadRequest(f"{shown}:{at}: an nlu item must be a mapping")
        if "intent" in item:
            intent = str(item["intent"]).strip()
            lines = _examples(item.get("examples"), f"{shown}:{at}", f"intent {intent}")
            parsed = [parse_annotated(line) for line in lines]
            for example in parsed:
                for span in example.entities:
                    entities.setdefault(span.entity, at)
                issues += [Issue(shown, at, UNSUPPORTED, f"intent {intent}: {problem}; not learned")
                           for problem in example.problems]
            # The router's text: the examples without their markup.
            out.examples.setdefault(intent, []).extend(p.text for p in parsed)
            out.nlu_examples += [Example(intent, p.text, p.entities) for p in parsed]
            out.where.setdefault(intent, (shown, at))
        elif kind := next((k for k in ("synonym", "regex", "lookup") if k in item), None):
            name = str(item[kind]).strip()
            values = _examples(item.get("examples"), f"{shown}:{at}", f"{kind} {name}")
            if kind == "synonym":
                out.synonyms += [(value, name) for value in values]
            elif kind == "lookup":
                out.lookups.append(Patterns(name, tuple(values)))
            else:
                out.regexes.append(Patterns(name, tuple(_valid_patterns(values, name, shown, at, issues))))
            out.nlu_items.append((shown, at, kind, name))
        else:
            issues.append(Issue(shown, at, UNSUPPORTED, f"item {sorted(map(str, item))} is not used"))
    if entities:
        names = ", ".join(sorted(entities))
        issues.append(Issue(shown, min(entities.values()), CHANGED, (
            f"entities annotated in examples ({names}) are learned by Shopbot's entity extractor (a CRF "
            "trained on the project's examples, in place of the config.yml pipeline's extractors)")))
    _list_nlu_items(out, issues)


def _list_nlu_items(out: _Data, issues: list[Issue]) -> None:
    """List the synonym/regex/lookup items again with what the annotations read so far make of them."""
    listed = {id(issue) for issue in out.nlu_item_issues}
    issues[:] = [issue for issue in issues if id(issue) not in listed]
    annotated = {span.entity for ex in out.nlu_examples for span in ex.entities}
    out.nlu_item_issues = []
    for shown, at, kind, name in out.nlu_items:
        if not annotated:
            out.nlu_item_issues.append(Issue(shown, at, UNSUPPORTED, (
                f"{kind} '{name}' is not used: no example annotates an entity, so Shopbot extracts none "
                "from typed text")))
        elif kind != "synonym":
            does = (f"its matches are entity {name} (as Rasa's RegexEntityExtractor) and it is"
                    if name in annotated else "it is")
            out.nlu_item_issues.append(Issue(shown, at, CHANGED, (
                f"{kind} '{name}': {does} a feature of Shopbot's entity extractor, not of the intent "
                "router")))
    issues += out.nlu_item_issues


def _valid_patterns(patterns: list[str], name: str, shown: str, at: int, issues: list[Issue]) -> list[str]:
    valid = []
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as err:
            issues.append(Issue(shown, at, UNSUPPORTED, f"regex '{name}': {pattern!r} is not used: {err}"))
            continue
        valid.append(pattern)
    return valid


def _examples(block: Any, where: str, what: str) -> list[str]:
    if isinstance(block, str):
        lines = [line.strip()[2:] for line in block.splitlines() if line.strip().startswith("- ")]
    elif isinstance(block, list):
        lines = [str(x.get("text", "")) if isinstance(x, dict) else str(x) for x in block]
    else:
        raise BadRequest(f"{where}: {what} needs 'examples' (a '|' block of '- ' lines)")
    return [line.strip() for line in lines if line.strip()]


def _responses(value: Any, shown: str, issues: list[Issue]) -> dict[str, tuple[Mapping[str, Any], ...]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{shown}:{line_of(value, 1)}: 'responses' must be a mapping")
    out = {}
    for name, variants in value.items():
        at = _line(value, name)
        if not isinstance(variants, list) or not variants or not all(isinstance(v, dict) for v in variants):
            raise BadRequest(f"{shown}:{at}: response {name} must be a list of variants (text, image, ...)")
        for variant in variants:
            if not _SHOWN_KEYS & set(variant):
                raise BadRequest(f"{shown}:{line_of(variant, at)}: a variant of {name} has nothing to show")
            unknown = set(map(str, variant)) - _SHOWN_KEYS - _QUIET_KEYS
            if unknown:
                issues.append(Issue(shown, line_of(variant, at), UNSUPPORTED,
                                    f"response {name}: {', '.join(sorted(unknown))} not shown"))
            if "channel" in variant:
                issues.append(Issue(shown, line_of(variant, at), CHANGED, (
                    f"response {name}: the variant for channel {variant['channel']} is used only when "
                    "no variant without a channel exists")))
        out[str(name)] = tuple(variants)
    return out


# --- Turns of each intent -------------------------------------------------------------------------

def _label_turns(
    data: _Data, chosen: Mapping[str, tuple[str, ...]], in_context: Mapping[str, Any],
    responses: Mapping[str, Any], issues: list[Issue], forms: bool = False,
) -> dict[str, tuple[str, ...]]:
    """Actions per intent; a retrieval intent answers from ``utter_<intent>`` (via its rule if any)."""
    turns = dict(chosen)
    for label in data.examples:
        if "/" not in label or label in turns:
            continue
        base = label.split("/", 1)[0]
        actions = turns.get(base, (f"utter_{base}",))
        resolved = tuple(f"utter_{label}" if a == f"utter_{base}" else a for a in actions)
        missing = [a for a in resolved if a.startswith("utter_") and a not in responses]
        if missing:
            issues.append(Issue(*data.where[label], UNSUPPORTED, (
                f"retrieval intent {label} has no response {missing[0]}: it gets the fallback")))
            continue
        turns[label] = resolved
    for intent, questions in data.examples.items():
        if questions and intent not in turns and intent not in in_context and \
                intent not in (OUT_OF_SCOPE, NLU_FALLBACK):
            unless = " unless an active form fills a slot from them" if forms else ""
            issues.append(Issue(*data.where[intent], CHANGED, (
                f"intent {intent}: no rule or story that Shopbot runs answers it; messages classified "
                f"as it get the fallback{unless}")))
    return turns


def _first_text(actions: tuple[str, ...], responses: Mapping[str, Any]) -> str | None:
    for action in actions:
        for variant in responses.get(action, ()):
            text = variant.get("text")
            if isinstance(text, str | int | float) and str(text).strip():
                return str(text)
    return None


# --- Endpoints, config, credentials, actions ----------------------------------------------------

def _endpoint(root: Path, issues: list[Issue]) -> str:
    path = _first_file(root, "endpoints")
    if path is None:
        return ""
    shown = _rel(path, root)
    doc = read_mapping(path, shown)
    url = ""
    for key, value in doc.items():
        at = doc.line_of(key)
        if key == "action_endpoint":
            if not isinstance(value, dict) or not isinstance(value.get("url"), str):
                raise BadRequest(f"{shown}:{at}: action_endpoint needs a url")
            url = _expand(value["url"], f"{shown}:{_line(value, 'url')}")
            extra = sorted(set(map(str, value)) - {"url"})
            if extra:
                issues.append(Issue(shown, at, UNSUPPORTED, f"action_endpoint: {', '.join(extra)} not sent"))
        elif key == "nlg":
            issues.append(Issue(shown, at, UNSUPPORTED,
                                "an NLG server is not used: responses come from the project's files"))
        elif value is not None:
            issues.append(Issue(shown, at, CHANGED, (
                f"{key} is not used: Shopbot keeps conversations itself (SHOPBOT_DATABASE_URL, "
                "SHOPBOT_REDIS_URL)")))
    return url


def _expand(value: str, where: str) -> str:
    def env(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise BadRequest(f"{where}: environment variable {name} is not set")
        return os.environ[name]

    return _ENV.sub(env, value)


def _check_config(root: Path, issues: list[Issue]) -> tuple[int | None, frozenset[str]]:
    """What config.yml asks for that Shopbot does differently; returns memoization's max_history
    and the Duckling dimensions read in process."""
    path = _first_file(root, "config")
    if path is None:
        return DEFAULT_MAX_HISTORY, frozenset()
    shown = _rel(path, root)
    doc = read_mapping(path, shown)
    if "pipeline" in doc:
        issues.append(Issue(shown, doc.line_of("pipeline"), CHANGED, (
            "the NLU pipeline (Rasa's default when empty) is not used: Shopbot's trained router classifies "
            "intents and calibrates its own decline threshold (in place of FallbackClassifier)")))
    pipeline = doc.get("pipeline")
    duckling = _duckling(pipeline if isinstance(pipeline, list) else [], shown, doc.line_of("pipeline"),
                         issues)
    policies = doc.get("policies")
    max_history = _max_history(policies if isinstance(policies, list) else [], shown)
    if "policies" in doc:
        looks_back = "the whole conversation" if max_history is None else f"max_history {max_history}"
        issues.append(Issue(shown, doc.line_of("policies"), CHANGED, (
            "policies (Rasa's defaults when empty) are replaced by Shopbot's: rules and stories are followed "
            f"in their context as RulePolicy and MemoizationPolicy follow them ({looks_back}); "
            "nothing learns to answer beyond them (TEDPolicy)")))
    for policy in policies if isinstance(policies, list) else []:
        name = policy.get("name") if isinstance(policy, dict) else policy
        if name not in _CORE_POLICIES:
            issues.append(Issue(shown, line_of(policy, doc.line_of("policies")), UNSUPPORTED,
                                f"custom policy {name} is not run"))
    language = doc.get("language")
    if language not in (None, "en"):
        issues.append(Issue(shown, doc.line_of("language"), CHANGED,
                            f"language {language}: Shopbot's router starts from an English model"))
    return max_history, duckling


def _duckling(pipeline: list[Any], shown: str, at: int, issues: list[Issue]) -> frozenset[str]:
    """The dimensions of the pipeline's DucklingEntityExtractor that Shopbot reads (no Duckling
    server: numbers, ordinals and e-mail addresses in process); the others are listed."""
    for component in pipeline:
        if not isinstance(component, dict) or component.get("name") != "DucklingEntityExtractor":
            continue
        asked = component.get("dimensions")
        wanted = {str(d) for d in asked} if isinstance(asked, list) else set(DUCKLING_DIMENSIONS)
        line = line_of(component, at)
        issues.append(Issue(shown, line, CHANGED, (
            "DucklingEntityExtractor: no Duckling server is called; "
            f"{', '.join(sorted(wanted & DUCKLING_SUPPORTED)) or 'none of its dimensions'} read by "
            "Shopbot in process (retrieval/rasa_duckling.py)")))
        if wanted - DUCKLING_SUPPORTED:
            issues.append(Issue(shown, line, UNSUPPORTED, (
                f"DucklingEntityExtractor dimensions {', '.join(sorted(wanted - DUCKLING_SUPPORTED))} "
                "are not extracted")))
        return frozenset(wanted & DUCKLING_SUPPORTED)
    return frozenset()


def _max_history(policies: list[Any], shown: str) -> int | None:
    """The first memoization policy's ``max_history`` (null: the whole conversation), else Rasa's 5."""
    for policy in policies:
        if isinstance(policy, dict) and policy.get("name") in _MEMOIZATION and "max_history" in policy:
            value = policy["max_history"]
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise BadRequest(f"{shown}:{_line(policy, 'max_history')}: max_history must be a whole "
                                 "number of 1 or more, or null")
            return int(value) if value is not None else None
    return DEFAULT_MAX_HISTORY


def _check_credentials(root: Path, issues: list[Issue]) -> None:
    path = _first_file(root, "credentials")
    if path is None:
        return
    shown = _rel(path, root)
    doc = read_mapping(path, shown)
    for channel in doc:
        if channel not in _CHANNELS:
            issues.append(Issue(shown, doc.line_of(channel), UNSUPPORTED,
                                f"channel {channel}: Shopbot serves Rasa's REST and socket.io channels"))


def _actions_path(root: Path) -> Path | None:
    package = root / "actions"
    if (package / "__init__.py").is_file():
        return package
    module = root / "actions.py"
    return module if module.is_file() else None


# --- Helpers --------------------------------------------------------------------------------------

def _first_file(root: Path, stem: str) -> Path | None:
    return next((root / f"{stem}{ext}" for ext in _YAML if (root / f"{stem}{ext}").is_file()), None)


def _yaml_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in _YAML)


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _line(container: Any, key: Any) -> int:
    return container.line_of(key) if isinstance(container, YamlMap) else line_of(container)


__all__ = ["RasaProject", "Form", "REQUESTED_SLOT", "load_rasa_project",
           "Issue", "OUT_OF_SCOPE", "NLU_FALLBACK"]
