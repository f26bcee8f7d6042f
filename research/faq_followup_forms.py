"""How should a follow-up to an FAQ answer be read? Forms compared on the development conversations.

    .venv/bin/python research/faq_followup_forms.py            # the table in docs/quality.md
    .venv/bin/python research/faq_followup_forms.py --json

Every FAQ follow-up and standalone control of the development sets (``conversations_dev.jsonl``
and ``conversations_dev2..5.jsonl``; never the test split) is routed by the built router in
``var/`` four ways: the message alone; the question before and then the message ("qfirst",
CANARD's "previous question" form); the message and then the topic's name ("mfirst"); and, for
each threshold, alone when the router reads the message alone at least that surely, else one of
the two context forms. The topic is the router's answer to the setup message. An item counts as
answered when the chosen entry's answer holds one of its ``text_any`` strings (or is its ``faq``
entry, or, for a control expecting cards, is ``product_search``). Router only: no server, no
catalogue; the end-to-end figures are ``bench/conversations.py``'s.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.turns import RouterOutput  # noqa: E402

DEV_SETS = ("conversations_dev.jsonl", *(f"conversations_dev{i}.jsonl" for i in range(2, 6)))


@dataclass(frozen=True)
class Item:
    """One follow-up after an FAQ answer, routed every way."""

    id: str
    topic: str
    say: str
    expect: Mapping[str, Any]
    alone: RouterOutput
    qfirst: RouterOutput
    mfirst: RouterOutput


def probability(out: RouterOutput) -> float:
    """The router's probability of its best entry."""
    return out.ranking[0][1] if out.ranking else 0.0


def gated(threshold: float, form: str) -> Callable[[Item], str]:
    """Alone when the message alone is read at least ``threshold`` surely, else ``form``."""
    def choose(item: Item) -> str:
        if probability(item.alone) >= threshold:
            return item.alone.top_label
        return getattr(item, form).top_label
    return choose


def answered(label: str, expect: Mapping[str, Any], answers: Mapping[str, str]) -> bool:
    """The entry ``label`` answers what ``expect`` asks."""
    if "text_any" in expect:
        text = answers.get(label, "").lower()
        return any(s.lower() in text for s in expect["text_any"])
    if "faq" in expect:
        wanted = expect["faq"]
        return label in (wanted if isinstance(wanted, list) else [wanted])
    return label == "product_search" if "cards" in expect else False


def strategies() -> dict[str, Callable[[Item], str]]:
    """Every reading compared, by name."""
    named: dict[str, Callable[[Item], str]] = {
        "alone": lambda i: i.alone.top_label,
        "qfirst": lambda i: i.qfirst.top_label,
        "mfirst": lambda i: i.mfirst.top_label,
    }
    for threshold in (0.8, 0.9, 0.95):
        for form in ("qfirst", "mfirst"):
            named[f"alone if ≥ {threshold}, else {form}"] = gated(threshold, form)
    return named


def score(items: Sequence[Item], answers: Mapping[str, str]) -> dict[str, int]:
    """Items answered, per strategy."""
    return {name: sum(answered(pick(i), i.expect, answers) for i in items)
            for name, pick in strategies().items()}


def load(paths: Iterable[Path], route: Callable[[list[str]], list[RouterOutput]],
         questions: Mapping[str, str]) -> list[Item]:
    """The FAQ follow-ups and controls of ``paths``, routed every way."""
    items = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            conv = json.loads(line)
            if conv["kind"] not in ("faq", "standalone") or len(conv["turns"]) < 2:
                continue
            setup, follow = conv["turns"][0], conv["turns"][1]
            topic = route([setup["say"]])[0].top_label
            if topic not in questions or "expect" not in follow:
                continue
            text = follow["say"]
            alone, qfirst, mfirst = route([
                text, f"{questions[topic].rstrip('?. ')}? {text}", f"{text} ({topic.replace('_', ' ')})"])
            items.append(Item(conv["id"], topic, text, follow["expect"], alone, qfirst, mfirst))
    return items


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var", type=Path, default=ROOT / "var", help="the built var/ (its router)")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    args = parser.parse_args(argv)

    from core.settings import Settings
    from retrieval.knowledge import load_knowledge
    from retrieval.router import TrainedRouter

    entries = {e.id: e for e in load_knowledge(Settings().faq_path)}
    router = TrainedRouter(args.var / "router")
    router.warm_up()
    items = load((ROOT / "data" / "eval" / name for name in DEV_SETS), router.run,
                 {k: e.questions[0] for k, e in entries.items() if e.questions})
    scores = score(items, {k: e.answer or "" for k, e in entries.items()})
    if args.json:
        print(json.dumps({"items": len(items), "answered": scores}, indent=1))
    else:
        print(f"{len(items)} FAQ follow-ups and controls of the development sets")
        for name, good in scores.items():
            print(f"  {name:28} {good:3d} / {len(items)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
