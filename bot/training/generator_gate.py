"""The generator's gate: does a candidate GPT-2 still phrase product answers the verifier keeps?

Product answers are decided by the product's facts; GPT-2 only words them, and its wording is
kept only when the verifier (``bot.generation.product_answer.verified``) finds that it says the
fact, all of it and nothing else. So the measure of a generator is the share of its drafts the
verifier keeps, on answerable product questions (``data/eval/product_questions_dev.jsonl``: the
development set, never the test set), asked through the same ``answer_about`` the live bot uses.
A share can tie at the extremes (a model that never starts the fact keeps none), so the second
check is each checkpoint's loss on the reference answers (``bot.training.scoring``).
"""

from __future__ import annotations

import asyncio
import json
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.generation.product_answer import answer_about, known_answer
from bot.generation.service import GenerationService, Generator
from core.errors import NotReady
from core.shop import Product


@dataclass(frozen=True)
class Probe:
    """One answerable question about one product."""

    product: Product
    aspect: str
    text: str


def load_probes(path: Path, products: Mapping[str, Product], limit: int) -> list[Probe]:
    """The first ``limit`` answerable questions whose product is in the catalogue."""
    try:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError) as err:
        raise NotReady(f"cannot read the generator's probe questions {path}: {err}") from err
    probes = [Probe(products[r["stock_code"]], r["aspect"], r["text"])
              for r in rows if r.get("answerable") and r.get("stock_code") in products]
    if not probes:
        raise NotReady(f"{path} holds no answerable question about a product of this catalogue")
    return probes[:limit]


def measure(generator: Generator, probes: list[Probe], timeout_s: float) -> dict[str, float]:
    """Share of drafts the verifier keeps and generation time (blocking; runs its own loop)."""

    async def run() -> list[tuple[bool, float]]:
        service = GenerationService(generator, timeout_s)
        await service.warm_up()
        try:
            out = []
            for p in probes:
                reply = await answer_about(p.product, p.aspect, p.text, service)
                out.append((reply.generated, reply.generate_ms))
            return out
        finally:
            service.close()

    results = asyncio.run(run())
    times = [ms for _, ms in results]
    return {"verified_share": sum(kept for kept, _ in results) / len(results),
            "p50_generate_ms": statistics.median(times)}


def reference_answers(probes: list[Probe]) -> list[tuple[str, tuple[str, str], str]]:
    """``(question, passages, answer)`` per probe: the fact sentence is the answer to word."""
    out = []
    for p in probes:
        known = known_answer(p.product, p.aspect)
        out.append((p.text, (known, p.product.evidence()), known))
    return out


def evaluate_generator(
    candidate: Generator,
    live: Generator | None,
    probes: list[Probe],
    *,
    max_drop: float,
    timeout_s: float,
    names: tuple[str, str | None],
    losses: tuple[float, float | None] | None = None,
    max_loss_rise: float = 0.5,
) -> dict[str, Any]:
    """Both generators on the probes, side by side, and whether the candidate may go live.

    ``losses``: each checkpoint's loss per token of the reference answers
    (``bot.training.scoring.answer_loss``), candidate then live; the candidate fails when it
    is more than ``max_loss_rise`` nats higher.
    """
    cand = measure(candidate, probes, timeout_s)
    current = measure(live, probes, timeout_s) if live is not None else None
    drop = None if current is None else round((current["verified_share"] - cand["verified_share"]) * 100, 2)
    checks: list[dict[str, Any]] = [{
        "name": "verified_share", "candidate": cand["verified_share"],
        "live": None if current is None else current["verified_share"], "drop_points": drop,
        "max_drop_points": max_drop, "passed": drop is None or drop <= max_drop}]
    if losses is not None:
        cand["answer_loss"] = losses[0]
        if current is not None and losses[1] is not None:
            current["answer_loss"] = losses[1]
        rise = None if losses[1] is None or current is None else round(losses[0] - losses[1], 4)
        # Same keys as the share checks ("drop" = how much worse), in nats per token.
        checks.append({"name": "answer_loss", "unit": "nats/token", "candidate": losses[0],
                       "live": None if current is None else losses[1], "drop_points": rise,
                       "max_drop_points": max_loss_rise, "passed": rise is None or rise <= max_loss_rise})
    return {
        "candidate": names[0], "live": names[1], "probes": len(probes),
        "metrics": {"candidate": cand, "live": current},
        "checks": checks, "passed": all(c["passed"] for c in checks), "failures": [],
        "evaluated_at": datetime.now(UTC).isoformat(),
    }
