"""The Grafana dashboard asks only for metrics that the real server exports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import yaml
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from bot.serving.engine import CORRECTIONS, PIPELINE
from bot.web.keys import METRICS
from core.settings import REPO_ROOT

DASHBOARD = REPO_ROOT / "monitoring" / "grafana" / "shopbot-dashboard.json"
RULES = REPO_ROOT / "monitoring" / "prometheus" / "alerts.yml"
# The drift panels: each rate of the last hour and its baseline (recording rules), the router
# confidence histogram, the live model versions and the swaps.
DRIFT_PANEL_SERIES = {
    *(f"shopbot:{rate}:{kind}" for rate in ("decline_rate", "unfamiliar_share", "low_confidence_share",
                                            "thumbs_down_rate", "ungrounded_rate")
      for kind in ("ratio1h", "baseline")),
    "shopbot_router_confidence_bucket",
    "shopbot_model_live_info",
    "shopbot_model_live_since_timestamp_seconds",
    "shopbot_model_swaps_total",
    "shopbot_model_swap_failures_total",
}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
MESSAGES = [
    "how long does delivery take?",
    "can I return a gift?",
    "I want to talk to a person",
    "what is the capital of France?",
]


def queries(dashboard: dict[str, Any]) -> Iterator[str]:
    """Every PromQL expression of the panels (rows included) and of the annotations."""
    for panel in dashboard["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                yield target["expr"]
    for annotation in dashboard["annotations"]["list"]:
        if "expr" in annotation:
            yield annotation["expr"]


def recording_rules() -> dict[str, str]:
    """Series recorded by the shipped rules, with the expression of each."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {r["record"]: r["expr"] for g in groups for r in g["rules"] if "record" in r}


def read_by(name: str, recorded: dict[str, str]) -> set[str]:
    """The exported metrics a series reads: itself, or what its recording rule reads, recursively."""
    if name not in recorded:
        return {name}
    return set().union(*(read_by(n, recorded) for n in metric_names(recorded[name])))


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: what is left once strings, label matchers, ranges,
    grouping clauses, functions, keywords and numbers are taken out."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![A-Za-z0-9_.:])[A-Za-z_:][A-Za-z0-9_:]*", text):
        rest = text[match.end() :].lstrip()
        if not rest.startswith("(") and match.group() not in KEYWORDS:
            names.add(match.group())
    return names


def test_metric_name_extraction() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(shopbot_x_bucket{route=~"$route"}'
        "[$__rate_interval]))) / scalar(sum(up)) and on (job) shopbot_y offset 5m"
    )
    assert metric_names(expr) == {"shopbot_x_bucket", "up", "shopbot_y"}


async def test_every_dashboard_query_names_exported_metrics(client: TestClient) -> None:
    app = client.app
    for i, message in enumerate(MESSAGES):
        resp = await client.post(
            "/webhooks/rest/webhook", json={"sender": f"dash-{i % 2}", "message": message}
        )
        assert resp.status == 200
    # "I want to talk to a person" opened a handoff: its series come from the real desk.
    # The model lifecycle exports the live versions and their baseline when a version goes live.
    app[METRICS].set_live_model("router", "r1")
    app[METRICS].set_model_baseline("router", {"decline_rate": 0.1, "unfamiliar_share": 0.05})

    resp = await client.get("/metrics")
    assert resp.status == 200
    samples = [s for f in text_string_to_metric_families(await resp.text()) for s in f.samples]
    exported = {s.name for s in samples}
    assert sum(s.value for s in samples if s.name == "shopbot_turns_total") == len(MESSAGES)
    (info,) = [s for s in samples if s.name == "shopbot_versions_info"]
    assert info.labels == {**app[PIPELINE].versions(), "corrections": app[CORRECTIONS].version}
    assert not any("dash-" in v for s in samples for v in s.labels.values()), "no conversation ids"

    dashboard = json.loads(DASHBOARD.read_text())
    used: dict[str, set[str]] = {}
    for expr in queries(dashboard):
        names = metric_names(expr)
        assert names, f"query names no metric: {expr}"
        for name in names:
            used.setdefault(name, set()).add(expr)
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            (name,) = re.findall(r"label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)", variable["definition"])
            used.setdefault(name, set()).add(variable["definition"])
    recorded = recording_rules()
    missing = {name: sorted(exprs) for name, exprs in used.items()
               if not read_by(name, recorded) <= exported}
    assert not missing, f"dashboard queries metrics the server does not export: {missing}"
    assert len(used) >= 10
    assert used.keys() >= DRIFT_PANEL_SERIES, DRIFT_PANEL_SERIES - used.keys()
    # The baselines read the live model's exported gauge (and the turn counters as a fallback).
    assert "shopbot_model_baseline" in read_by("shopbot:unfamiliar_share:baseline", recorded)
    assert {s.labels["version"] for s in samples if s.name == "shopbot_model_live_info"} == {"r1"}


def test_read_by_follows_recording_rules() -> None:
    recorded = {"a:b:c": "sum(rate(x_total[1h])) / d:e:f", "d:e:f": "sum(y_total)"}
    assert read_by("a:b:c", recorded) == {"x_total", "y_total"}
    assert read_by("z_total", recorded) == {"z_total"}
