"""Plain-text forms of the gate and replay reports, for the terminal."""

from __future__ import annotations

from typing import Any

from bot.training.replay import GROUPS


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def _nats(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def evaluation_text(report: dict[str, Any]) -> str:
    """Candidate and live side by side, each check, and the verdict."""
    live = report["live"] or "(none)"
    cases = (f"gold cases {report['gold_cases']}" if "gold_cases" in report
             else f"product questions {report.get('probes')}")
    lines = [f"candidate {report['candidate']}   live {live}   {cases}",
             f"{'check':<22}{'candidate':>11}{'live':>11}{'worse by':>12}{'max':>6}  result"]
    for c in report["checks"]:
        drop = "–" if c["drop_points"] is None else f"{c['drop_points']:.2f}"
        # A share is shown in percent and its drop in points; a loss in nats per token.
        show = _pct if c.get("unit") is None else _nats
        lines.append(f"{c['name']:<22}{show(c['candidate']):>11}{show(c['live']):>11}{drop:>12}"
                     f"{c['max_drop_points']:>6g}  {'pass' if c['passed'] else 'FAIL'}")
    for f in report.get("failures", []):
        lines.append(f"  fails gold case ({f['verdict']}, expects {f['expect']} {f['label'] or f['route']}): "
                     f"{f['text']!r} -> {f['candidate']['route']} {f['candidate']['label']}")
    lines.append("PASSED: may be deployed" if report["passed"] else "FAILED: `shopbot deploy` refuses it")
    return "\n".join(lines)


def replay_text(report: dict[str, Any]) -> str:
    """Counts per group, a few examples each, and the rates of both versions."""
    lines = [f"replayed {report['messages']} shopper messages through {report['candidate']} "
             f"(live: {report['live']}): {report['changed']} would change"]
    for name in GROUPS:
        group = report["groups"][name]
        lines.append(f"{name.replace('_', ' ')}: {group['count']}")
        for ex in group["examples"]:
            lines.append(f"  {ex['text']!r}: {ex['live']['route']} {ex['live']['label']} -> "
                         f"{ex['candidate']['route']} {ex['candidate']['label']}")
    for who in ("live", "candidate"):
        r = report["rates"][who]
        lines.append(f"{who}: declined {_pct(r['decline_rate'])}, unfamiliar {_pct(r['unfamiliar_share'])}, "
                     f"low confidence {_pct(r['low_confidence_share'])}")
    return "\n".join(lines)
