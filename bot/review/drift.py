"""``GET /api/drift``: the shop's traffic per hour against the live model's baseline (auditors).

The hourly rates are those the Prometheus drift alerts watch (monitoring/prometheus/alerts.yml);
the examples are the latest unfamiliar messages, redacted as logged, which auditors open in
``/review`` and promote into the knowledge (``POST /api/turns/{turn_id}/promote``).
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from pydantic import BaseModel, Field

from bot.auth.guard import Role, requires
from bot.review.api import parse_query
from bot.serving.turnlog import RECORDS, SINK
from bot.web.keys import ENGINE, METRICS
from bot.web.openapi import operation
from core.turns import Flag
from monitoring.drift import MAX_EXAMPLES, MAX_HOURS, drift_report

DEFAULT_HOURS = 24
# The model kind whose baseline the router-driven rates (declines, unfamiliar, low confidence)
# are judged against.
BASELINE_KIND = "router"


def _hours(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_HOURS:
        raise ValueError(f"must be a whole number from 1 to {MAX_HOURS}")
    return int(text)


class DriftQuery(BaseModel):
    """How far back to look."""

    hours: int = Field(default=DEFAULT_HOURS, ge=1, le=MAX_HOURS,
                       description="hours up to now, the current one included")


class DriftHourOut(BaseModel):
    """The routed turns of one hour (rates are fractions, null with nothing to divide by)."""

    start: str
    end: str
    turns: int
    decline_rate: float | None
    unfamiliar_share: float | None
    low_confidence_share: float | None
    thumbs_down_rate: float | None = Field(description="thumbs down per rated answer")
    ungrounded_rate: float | None = Field(description="ungrounded per generated answer")
    mean_confidence: float | None
    rated: int
    generated: int


class ExampleOut(BaseModel):
    """An unfamiliar message (redacted as logged) and where to review and promote it."""

    turn_id: str
    ts: str
    user_text: str
    route: str
    nearest_phrasing: float | None = Field(description="cosine to the nearest in-scope phrasing")
    detail: str
    promote: str


class DriftOut(BaseModel):
    """Hourly rates, the window's total, the live model's baseline and example messages."""

    since: str
    until: str
    hours: list[DriftHourOut]
    total: DriftHourOut
    baseline: dict[str, float] = Field(description="the live router's expected rates (empty: none exported)")
    unfamiliar_threshold: float
    review: dict[str, str]
    examples: list[ExampleOut]


@operation("Drift of the traffic against the live model's baseline", query=DriftQuery, response=DriftOut,
           tags=("review",),
           description="Per hour: routed turns, decline rate, unfamiliar and low-confidence shares, "
                       "thumbs-down and ungrounded rates, mean router confidence; the live router's "
                       f"baseline; the latest {MAX_EXAMPLES} unfamiliar messages to review and promote.")
@requires(Role.AUDITOR)
async def get_drift(request: web.Request) -> web.Response:
    """The drift report of the last ``hours`` hours."""
    hours = parse_query(request.query, {"hours": _hours}).get("hours", DEFAULT_HOURS)
    app = request.config_dict
    # Turns answered a moment ago may still sit in the writer's queue.
    sink = app.get(SINK)
    if sink is not None:
        await sink.flushed()
    report = await asyncio.to_thread(drift_report, app[ENGINE], hours)
    body = report.to_json()
    for example in body["examples"]:
        example["detail"] = f"/api/turns/{example['turn_id']}"
        example["promote"] = f"/api/turns/{example['turn_id']}/promote"
    body["baseline"] = app[METRICS].model_baseline(BASELINE_KIND)
    body["unfamiliar_threshold"] = app[RECORDS].thresholds.unfamiliar
    body["review"] = {"console": "/review", "turns": f"/api/turns?flag={Flag.UNFAMILIAR}"}
    return web.json_response(body)

