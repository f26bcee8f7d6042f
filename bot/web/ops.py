"""What operators call: ``GET /health`` (liveness), ``GET /health/ready`` (readiness) and the
Prometheus scrape at ``GET /metrics``."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from prometheus_client.exposition import choose_encoder
from sqlalchemy import text

from bot.web.keys import ENGINE, JOURNAL, METRICS, REDIS, VERSIONS

PROBE_TIMEOUT_S = 2.0


async def health(request: web.Request) -> web.Response:
    """Liveness: the process serves (even while the database is away), plus model versions."""
    versions = request.app.get(VERSIONS)
    return web.json_response({"status": "ok", "versions": dict(versions()) if versions else {}})


async def ready(request: web.Request) -> web.Response:
    """Readiness: the database answers and the journal takes turns (503 if not); Redis is
    reported (turns go on without it), and so are the journal's backlog and, when it refuses
    turns (a full disk), why."""
    app = request.app
    database = await _probe(asyncio.to_thread(_select_one, app[ENGINE])) if ENGINE in app else _absent()
    redis = app.get(REDIS)
    cache: dict[str, Any] = await _probe(redis.ping()) if redis is not None else \
        {"ok": True, "configured": False}
    if not cache["ok"]:
        # Not a reason to stop taking turns: limits, locks and slots use this worker's own
        # memory while Redis is away (docs/reliability.md), so it is reported, not gating.
        cache["fallback"] = "this worker's memory"
    sink = app.get(JOURNAL)
    journal: dict[str, Any] = {}
    refusing = None
    if sink is not None:
        # Turns are refused while the journal cannot take them (its disk is full): say why.
        refusing = sink.refusing
        journal = {"backlog": sink.backlog, "outage_s": round(sink.outage_s, 1), "ok": refusing is None}
        if refusing is not None:
            journal["error"] = refusing
    ok = bool(database["ok"] and sink is not None and refusing is None)
    body = {"status": "ready" if ok else "unavailable", "database": database, "redis": cache,
            "journal": journal}
    return web.json_response(body, status=200 if ok else 503,
                             headers=None if ok else {"Retry-After": "5"})


def _select_one(engine: Any) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


async def _probe(check: Any) -> dict[str, Any]:
    try:
        await asyncio.wait_for(check, PROBE_TIMEOUT_S)
    except Exception as err:  # noqa: BLE001 - any failure means "not ready", reported as such
        return {"ok": False, "error": type(err).__name__}
    return {"ok": True}


def _absent() -> dict[str, Any]:
    return {"ok": False, "error": "not started"}


async def metrics(request: web.Request) -> web.Response:
    """The Prometheus scrape endpoint (text format, or OpenMetrics when asked for)."""
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": content_type})


def add_routes(app: web.Application) -> None:
    """Mount the health checks and ``GET /metrics`` (``app[METRICS]`` is set by the kernel)."""
    app.router.add_get("/health", health)
    app.router.add_get("/health/ready", ready)
    app.router.add_get("/metrics", metrics)
