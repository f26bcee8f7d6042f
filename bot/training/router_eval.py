"""Router evaluation: train a fresh router on a knowledge file and score it on labelled cases.

Cases are JSON lines ``{"text": str, "expected": id | null}``; null (or the ``out_of_scope``
id) means the right behaviour is to decline. Latency is measured one query at a time after
training, as a shopper's message would be routed.
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

from bot.engine.interfaces import Signals
from bot.engine.nlu import extract
from bot.engine.policy import RoutingThresholds, answered_entry, decide
from bot.training.scores import score_router
from core.errors import BadRequest
from core.turns import RouterOutput
from retrieval.knowledge import load_knowledge
from retrieval.router import OUT_OF_SCOPE, RouterConfig
from retrieval.router_train import train_router
from retrieval.turn_encoder import TurnEncoder, export_onnx, turn_encoder

Route = Callable[[list[str]], list[str | None]]


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
) -> dict[str, Any]:
    """Train a router on ``faq_path`` under ``work_dir`` and score ``route`` on the cases.

    ``route`` maps a list of messages to entry ids or None (decline); by default it is the
    freshly trained router served as the server serves it, on ``backend``.
    """
    return evaluate_backends(
        faq_path, cases_path, work_dir=work_dir, config=config, route=route, progress=progress,
        backends=(backend,), threads=threads,
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
) -> dict[str, dict[str, Any]]:
    """Train once, then score the same router served on each backend (accuracy and latency)."""
    entries = load_knowledge(faq_path)
    cases = load_cases(cases_path, {e.id for e in entries})
    report = train_router(entries, work_dir / "router", config=config, progress=progress)
    if any(b.startswith("onnx") for b in backends):
        export_onnx(report.model_dir)
    results: dict[str, dict[str, Any]] = {}
    for backend in backends:
        served = route or policy_route(turn_encoder(backend, report.model_dir, threads))
        served([cases[0].text])  # untimed: lazy loading belongs to start-up, not to a query
        predicted, latencies = _answer_one_by_one(served, [c.text for c in cases], progress)
        scores = score_router([c.expected for c in cases], predicted)
        results[backend] = {
            **asdict(scores),
            "p50_ms": _percentile(latencies, 50),
            "p95_ms": _percentile(latencies, 95),
            "train_s": report.train_s,
        }
    return results


def policy_route(encoder: TurnEncoder) -> Route:
    """Route messages exactly as the server does: the turn encoder, entities, then the policy.

    A fresh conversation (empty slots) and no catalogue: the knowledge file has no products.
    """
    encoder.warm_up()
    thresholds = RoutingThresholds()

    def route(texts: list[str]) -> list[str | None]:
        outputs = encoder.run(texts)
        return [policy_label(text, out.routed, thresholds) for text, out in zip(texts, outputs, strict=True)]

    return route


def policy_label(text: str, routed: RouterOutput, thresholds: RoutingThresholds) -> str | None:
    """The entry the server's policy answers ``text`` from, given the router's output (None: none)."""
    return answered_entry(decide(Signals(routed, entities=extract(text)), thresholds))


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
