"""Router evaluation: train a fresh router on a knowledge file and score it on labelled cases.

Cases are JSON lines ``{"text": str, "expected": id | null}``; null (or the ``out_of_scope``
id) means the right behaviour is to decline. Each message is routed as the server routes the
first message of a conversation (``bot/engine/signals.py``): the turn encoder, the search of
the knowledge file's phrasings and, when given, the shop's catalogue, the entities, then the
policy. Latency is measured one query at a time after training, as a shopper's message would be.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bot.engine.interfaces import Decision
from bot.engine.policy import RoutingThresholds, answered_entry
from bot.engine.signals import route_first_turn
from bot.training.scores import score_router
from core.errors import BadRequest
from core.shop import load_products
from retrieval.embeddings import Encoder, sentence_encoder
from retrieval.ensemble_encoder import EnsembleTurnEncoder
from retrieval.knowledge import KnowledgeEntry, load_knowledge
from retrieval.knowledge_base import KnowledgeBase, knowledge_base
from retrieval.mpnet import second_encoder
from retrieval.router import OUT_OF_SCOPE, RouterConfig
from retrieval.router_train import train_router
from retrieval.turn_encoder import export_onnx, turn_encoder
from retrieval.understanding import Understanding, understanding_of

Route = Callable[[list[str]], list[str | None]]
# Told each backend's answers, case by case: (backend, cases, answered entry ids or None).
Answered = Callable[[str, Sequence["Case"], Sequence[str | None]], None]


@dataclass(frozen=True)
class Case:
    """One labelled message; ``expected`` None means it should be declined."""

    text: str
    expected: str | None


def load_cases(path: Path, known_ids: set[str] | None = None) -> list[Case]:
    """Read and validate a cases file; ids outside ``known_ids`` are rejected."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise BadRequest(f"cannot read cases file {path}: {err}") from err
    cases = [_case(line, f"{path}:{n}", known_ids) for n, line in enumerate(lines, 1) if line.strip()]
    if not cases:
        raise BadRequest(f"{path}: no cases")
    return cases


def _case(line: str, where: str, known_ids: set[str] | None) -> Case:
    try:
        item = json.loads(line)
    except ValueError as err:
        raise BadRequest(f"{where}: not valid JSON: {err}") from err
    if not isinstance(item, dict) or set(item) != {"text", "expected"}:
        raise BadRequest(f"{where}: expected an object with exactly 'text' and 'expected'")
    text, expected = item["text"], item["expected"]
    if not isinstance(text, str) or not text.strip():
        raise BadRequest(f"{where}: 'text' must be non-empty text")
    if expected is not None and not isinstance(expected, str):
        raise BadRequest(f"{where}: 'expected' must be an entry id or null")
    if expected == OUT_OF_SCOPE:
        expected = None
    if expected is not None and known_ids is not None and expected not in known_ids:
        raise BadRequest(f"{where}: unknown entry id {expected!r}")
    return Case(text, expected)


def evaluate(
    faq_path: Path,
    cases_path: Path,
    *,
    work_dir: Path,
    config: RouterConfig = RouterConfig(),  # noqa: B008 - frozen, so a shared default is safe
    route: Route | None = None,
    progress: bool = True,
    backend: str = "torch",
    threads: int = 1,
    catalogue: Catalogue | None = None,
) -> dict[str, Any]:
    """Train a router on ``faq_path`` under ``work_dir`` and score ``route`` on the cases.

    ``route`` maps a list of messages to entry ids or None (decline); by default it is the
    freshly trained router served as the server serves it, on ``backend``.
    """
    return evaluate_backends(
        faq_path, cases_path, work_dir=work_dir, config=config, route=route, progress=progress,
        backends=(backend,), threads=threads, catalogue=catalogue,
    )[backend]


def evaluate_backends(
    faq_path: Path,
    cases_path: Path,
    *,
    work_dir: Path,
    backends: Sequence[str],
    config: RouterConfig = RouterConfig(),  # noqa: B008 - frozen, so a shared default is safe
    route: Route | None = None,
    progress: bool = True,
    threads: int = 1,
    catalogue: Catalogue | None = None,
    mpnet_dir: Path | None = None,
    answered: Answered | None = None,
) -> dict[str, dict[str, Any]]:
    """Train once, then score the same router served on each backend (accuracy and latency).

    An accurate-profile ``config`` needs ``mpnet_dir``, the all-mpnet-base-v2 export.
    ``answered`` is told every backend's answers case by case (``shopbot eval --misses``).
    """
    entries = load_knowledge(faq_path)
    cases = load_cases(cases_path, {e.id for e in entries})
    second = second_encoder(config.profile, mpnet_dir, config.threads)
    report = train_router(entries, work_dir / "router", config=config, progress=progress, second=second)
    if any(b.startswith("onnx") for b in backends):
        export_onnx(report.model_dir)
    # The knowledge the trained router's messages are searched in, indexed once for every backend.
    kb = knowledge_of(entries, work_dir / "index", catalogue) if route is None else None
    results: dict[str, dict[str, Any]] = {}
    for backend in backends:
        served = route
        if served is None:
            assert kb is not None
            encoder = turn_encoder(backend, report.model_dir, threads, mpnet_dir=mpnet_dir)
            served = policy_route(understanding_of(encoder, kb))
        served([cases[0].text])  # untimed: lazy loading belongs to start-up, not to a query
        predicted, latencies = _answer_one_by_one(served, [c.text for c in cases], progress)
        if answered is not None:
            answered(backend, cases, predicted)
        scores = score_router([c.expected for c in cases], predicted)
        results[backend] = {
            **asdict(scores),
            "p50_ms": _percentile(latencies, 50),
            "p95_ms": _percentile(latencies, 95),
            "train_s": report.train_s,
            "profile": config.profile,
        }
        if route is None and isinstance(encoder, EnsembleTurnEncoder) and encoder.rows:
            # The cascade: the share of messages mpnet had to score (the rest MiniLM was sure of).
            results[backend]["mpnet_share"] = encoder.mpnet_rows / encoder.rows
    return results


def misses_writer(path: Path) -> Answered:
    """Writes each wrongly answered case to ``path`` as a JSON line ``{backend, text, expected,
    answered}`` (null: declined), so a shop can read what its router gets wrong."""
    path.write_text("", encoding="utf-8")

    def write(backend: str, cases: Sequence[Case], predicted: Sequence[str | None]) -> None:
        with path.open("a", encoding="utf-8") as out:
            for case, got in zip(cases, predicted, strict=True):
                if got != case.expected:
                    line = {"backend": backend, "text": case.text, "expected": case.expected, "answered": got}
                    out.write(json.dumps(line) + "\n")

    return write


@dataclass(frozen=True)
class Catalogue:
    """The shop's catalogue searched beside the knowledge file, as the server searches it."""

    shop_dir: Path
    # Where its product index is kept (``var/index``): built once, then reused.
    index_dir: Path
    encoder: Encoder


def knowledge_of(entries: Sequence[KnowledgeEntry], index_dir: Path,
                 catalogue: Catalogue | None = None) -> KnowledgeBase:
    """The knowledge base of ``entries`` (indexed under ``index_dir``) and the catalogue, if any.

    Without a catalogue the knowledge file alone is searched, with the bundled sentence encoder.
    """
    encoder = catalogue.encoder if catalogue is not None else sentence_encoder("torch", index_dir)
    products = load_products(catalogue.shop_dir) if catalogue is not None else []
    kb, _ = knowledge_base(entries, products, index_dir, encoder,
                           product_index_dir=catalogue.index_dir if catalogue is not None else None)
    return kb


def route_first_turns(understanding: Understanding, thresholds: RoutingThresholds,
                      texts: Sequence[str]) -> list[Decision]:
    """Each message's decision, as the server decides a fresh conversation's first message."""
    return [route_first_turn(text, u.routed, u.scores, thresholds)[1]
            for text, u in zip(texts, understanding.run(texts), strict=True)]


def policy_route(understanding: Understanding, thresholds: RoutingThresholds | None = None) -> Route:
    """Route messages exactly as the server does; the entry each is answered from (None: none)."""
    understanding.warm_up()
    rules = thresholds or RoutingThresholds()

    def route(texts: list[str]) -> list[str | None]:
        return [answered_entry(d) for d in route_first_turns(understanding, rules, texts)]

    return route


def _answer_one_by_one(
    route: Route, texts: Sequence[str], progress: bool
) -> tuple[list[str | None], list[float]]:
    predicted: list[str | None] = []
    latencies = []
    for text in tqdm(texts, desc="eval: cases", unit="case", file=sys.stderr, disable=not progress):
        start = time.perf_counter()
        answer = route([text])
        latencies.append((time.perf_counter() - start) * 1000.0)
        if len(answer) != 1:
            raise ValueError(f"route returned {len(answer)} labels for one message")
        # The out_of_scope entry means "decline", whichever way the route spells it.
        predicted.append(None if answer[0] == OUT_OF_SCOPE else answer[0])
    return predicted, latencies


def _percentile(values: Sequence[float], q: int) -> float:
    """Nearest-rank-interpolated percentile (``statistics.quantiles``' inclusive method)."""
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]
