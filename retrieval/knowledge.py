"""Knowledge entries (FAQ answers and answer-less routing intents) and their loaders.

Three sources are read: a JSON or YAML list of ``{id, questions, answer}``, and a Rasa
project's retrieval intents (``nlu.yml`` examples of ``faq/x`` plus ``utter_faq/x`` responses
in ``domain.yml``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.errors import BadRequest

_FIELDS = frozenset({"id", "questions", "answer"})
# Rasa annotates entities inline: "[red](colour)" or '[red]{"entity": "colour"}'.
_ENTITY = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")
_RASA_NAMES = {"nlu": ("nlu.yml", "nlu.yaml"), "domain": ("domain.yml", "domain.yaml")}


@dataclass(frozen=True)
class KnowledgeEntry:
    """One topic: its phrasings and its answer (None for a routing intent)."""

    id: str
    questions: tuple[str, ...]
    answer: str | None


def load_knowledge(path: Path) -> list[KnowledgeEntry]:
    """Read a ``.json``/``.yml``/``.yaml`` entry list, or a directory with Rasa files."""
    if path.is_dir():
        return load_rasa_knowledge(_rasa_file(path, "nlu"), _rasa_file(path, "domain"))
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yml", ".yaml"):
        raise BadRequest(f"{path}: knowledge must be .json, .yml or .yaml, not {suffix!r}")
    data = _read(path, json.loads if suffix == ".json" else yaml.safe_load)
    if not isinstance(data, list):
        raise BadRequest(f"{path}: expected a list of {{id, questions, answer}} entries")
    entries = (_entry(item, f"{path} entry {i}") for i, item in enumerate(data, 1))
    return validate_entries(entries, str(path))


def load_rasa_knowledge(nlu_path: Path, domain_path: Path) -> list[KnowledgeEntry]:
    """Entries from Rasa retrieval intents: ``faq/x`` examples answered by ``utter_faq/x``.

    Plain intents (no ``/``) have no answer of their own and are ignored.
    """
    examples = _rasa_examples(nlu_path)
    responses = _rasa_responses(domain_path)
    entries = []
    for intent, questions in examples.items():
        answer = responses.get(f"utter_{intent}")
        if answer is None:
            raise BadRequest(f"{domain_path}: no text response utter_{intent} for {intent}")
        entries.append(_build(intent, questions, answer, intent))
    return validate_entries(entries, str(nlu_path))


def validate_entries(entries: Iterable[KnowledgeEntry], source: str) -> list[KnowledgeEntry]:
    """Reject duplicate ids; the entries themselves are checked when built."""
    seen: set[str] = set()
    result = []
    for entry in entries:
        if entry.id in seen:
            raise BadRequest(f"{source}: duplicate id {entry.id!r}")
        seen.add(entry.id)
        result.append(entry)
    return result


def _read(path: Path, parse: Any) -> Any:
    try:
        return parse(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise BadRequest(f"cannot read knowledge file {path}: {err}") from err
    except (ValueError, yaml.YAMLError) as err:
        raise BadRequest(f"{path} is not valid {path.suffix.lstrip('.').upper()}: {err}") from err


def _entry(item: Any, where: str) -> KnowledgeEntry:
    if not isinstance(item, dict):
        raise BadRequest(f"{where}: expected a mapping with id, questions and answer")
    unknown = set(item) - _FIELDS
    if unknown:
        raise BadRequest(f"{where}: unknown field(s) {sorted(map(str, unknown))}")
    if "id" not in item:
        raise BadRequest(f"{where}: missing id")
    return _build(item["id"], item.get("questions"), item.get("answer"), where)


def make_entry(entry_id: Any, questions: Any, answer: Any, where: str) -> KnowledgeEntry:
    """One checked entry (phrasings tidied and deduplicated); ``where`` names it in errors."""
    return _build(entry_id, questions, answer, where)


def _build(entry_id: Any, questions: Any, answer: Any, where: str) -> KnowledgeEntry:
    if not isinstance(entry_id, str) or not entry_id.strip() or len(entry_id.split()) != 1:
        raise BadRequest(f"{where}: id must be a non-empty string without spaces")
    entry_id = entry_id.strip()
    if not isinstance(questions, list) or not questions:
        raise BadRequest(f"{entry_id}: questions must be a non-empty list of strings")
    if answer is not None and (not isinstance(answer, str) or not answer.strip()):
        raise BadRequest(f"{entry_id}: answer must be non-empty text or null")
    return KnowledgeEntry(
        id=entry_id,
        questions=_phrasings(questions, entry_id),
        answer=answer.strip() if answer is not None else None,
    )


def _phrasings(questions: list[Any], entry_id: str) -> tuple[str, ...]:
    # Repeats add nothing to the index and would skew the nearest-neighbour vote.
    seen: dict[str, str] = {}
    for question in questions:
        if not isinstance(question, str) or not question.strip():
            raise BadRequest(f"{entry_id}: every question must be non-empty text")
        text = " ".join(question.split())
        seen.setdefault(text.casefold(), text)
    return tuple(seen.values())


def _rasa_file(directory: Path, kind: str) -> Path:
    for name in _RASA_NAMES[kind]:
        if (directory / name).is_file():
            return directory / name
    raise BadRequest(f"{directory}: a Rasa knowledge directory needs {_RASA_NAMES[kind][0]}")


def _rasa_yaml(path: Path, key: str) -> Any:
    data = _read(path, yaml.safe_load)
    if not isinstance(data, dict) or key not in data:
        raise BadRequest(f"{path}: expected a top-level {key!r} section")
    return data[key]


def _rasa_examples(nlu_path: Path) -> dict[str, list[str]]:
    items = _rasa_yaml(nlu_path, "nlu")
    if not isinstance(items, list):
        raise BadRequest(f"{nlu_path}: 'nlu' must be a list")
    examples: dict[str, list[str]] = {}
    for item in items:
        intent = item.get("intent") if isinstance(item, dict) else None
        # Synonyms, regexes, lookups and plain intents carry no retrievable answer.
        if not isinstance(intent, str) or "/" not in intent:
            continue
        block = item.get("examples")
        if not isinstance(block, str):
            raise BadRequest(f"{nlu_path}: intent {intent} needs an 'examples: |' block")
        examples.setdefault(intent.strip(), []).extend(_example_lines(block))
    return examples


def _example_lines(block: str) -> list[str]:
    lines = []
    for line in block.splitlines():
        line = line.strip()
        if line.startswith("- "):
            lines.append(_ENTITY.sub(r"\1", line[2:]).strip())
    return lines


def _rasa_responses(domain_path: Path) -> dict[str, str]:
    """The first text variant of each response (Rasa would pick one at random)."""
    responses = _rasa_yaml(domain_path, "responses")
    if not isinstance(responses, dict):
        raise BadRequest(f"{domain_path}: 'responses' must be a mapping")
    texts = {}
    for name, variants in responses.items():
        if not isinstance(variants, list):
            raise BadRequest(f"{domain_path}: response {name} must be a list of variants")
        found = (v["text"] for v in variants if isinstance(v, dict) and "text" in v)
        text = next(found, None)
        if isinstance(text, str):
            texts[str(name)] = text
    return texts
