"""The gate: a candidate is compared with the live version before it may be deployed.

Two kinds of evidence, side by side for candidate and live:

- the gold set (:mod:`bot.training.gold`), both versions routing every reviewed turn now;
- each version's own held-out phrasings: the calibration fit's accuracy at its threshold and
  its out-of-scope recall, recorded in ``router.json`` when it was trained.

A check fails when the candidate is more than its allowed number of points below the live
version (thresholds in Settings: ``SHOPBOT_GATE_MAX_*``). No live version yet: nothing to lose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.training.gold import GoldCase, gold_accuracy
from bot.training.offline import OfflineRouter, Routed
from core.errors import NotReady
from retrieval.router import load_saved

_EXAMPLES = 5


@dataclass(frozen=True)
class GateThresholds:
    """Points (0-100) a candidate may lose against the live version, per check."""

    max_gold_drop: float = 0.5
    max_held_out_drop: float = 2.0
    max_oos_recall_drop: float = 5.0


def held_out(router_dir: Path) -> dict[str, float | None]:
    """A router's held-out figures from its calibration (``NotReady`` when it has none)."""
    calibration = load_saved(router_dir).calibration
    if "held_out_accuracy_at_threshold" not in calibration:
        raise NotReady(f"{router_dir} records no held-out figures")
    return {"accuracy": calibration.get("held_out_accuracy_at_threshold"),
            "oos_recall": calibration.get("held_out_oos_recall")}


def evaluate(
    candidate: OfflineRouter,
    candidate_dir: Path,
    live: OfflineRouter | None,
    live_dir: Path | None,
    cases: list[GoldCase],
    thresholds: GateThresholds,
    *,
    names: tuple[str, str | None],
) -> dict[str, Any]:
    """Gold-set and held-out metrics of both versions, each check, and the verdict (blocking)."""
    texts = [c.text for c in cases]
    cand_routed = candidate.run(texts) if cases else []
    live_routed = live.run(texts) if cases and live is not None else []
    cand = {"gold_accuracy": gold_accuracy(cases, cand_routed), **_prefixed(held_out(candidate_dir))}
    current = ({"gold_accuracy": gold_accuracy(cases, live_routed), **_prefixed(held_out(live_dir))}
               if live is not None and live_dir is not None else {})
    checks = [
        _check("gold_accuracy", cand, current, thresholds.max_gold_drop),
        _check("held_out_accuracy", cand, current, thresholds.max_held_out_drop),
        _check("held_out_oos_recall", cand, current, thresholds.max_oos_recall_drop),
    ]
    return {
        "candidate": names[0],
        "live": names[1],
        "gold_cases": len(cases),
        "metrics": {"candidate": cand, "live": current or None},
        "checks": checks,
        "passed": all(c["passed"] for c in checks),
        "failures": _failures(cases, cand_routed, live_routed),
        "evaluated_at": datetime.now(UTC).isoformat(),
    }


def _prefixed(figures: dict[str, float | None]) -> dict[str, float | None]:
    return {f"held_out_{k}": v for k, v in figures.items()}


def _check(name: str, candidate: dict[str, Any], live: dict[str, Any], max_drop: float) -> dict[str, Any]:
    cand, base = candidate.get(name), live.get(name)
    if cand is None or base is None:
        # Nothing to compare with (no live version, no gold case, or no held-out out-of-scope
        # phrasing): the check cannot fail on a figure that does not exist.
        return {"name": name, "candidate": cand, "live": base, "drop_points": None,
                "max_drop_points": max_drop, "passed": True}
    drop = round((base - cand) * 100, 2)
    return {"name": name, "candidate": cand, "live": base, "drop_points": drop,
            "max_drop_points": max_drop, "passed": drop <= max_drop}


def _failures(cases: list[GoldCase], candidate: list[Routed], live: list[Routed]) -> list[dict[str, Any]]:
    """Gold cases the candidate fails (the live version's answer beside it), a few of them."""
    out = []
    for i, (case, routed) in enumerate(zip(cases, candidate, strict=True)):
        if not case.passes(routed):
            item: dict[str, Any] = {**case.to_json(), "candidate": routed.to_json()}
            if live:
                item["live"] = live[i].to_json()
            out.append(item)
            if len(out) == _EXAMPLES:
                break
    return out
