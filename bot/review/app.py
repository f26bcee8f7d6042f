"""The auditor review feature: flagged turns, reviews, statistics, drift and promoted corrections.

One sub-app per URL prefix: ``/api/turns`` (list, export, detail, review, promote),
``/api/stats``, ``/api/drift`` and ``/api/knowledge`` (the promoted changes and the entries).
"""

from __future__ import annotations

from aiohttp import web

from bot.review import api, drift, promote
from bot.web.kernel import Feature


def create_feature() -> Feature:
    """The review console's API."""
    turns, stats, drifts, knowledge = (web.Application() for _ in range(4))
    # ``export`` before ``{turn_id}``, so that it is not read as a turn id.
    turns.add_routes([
        web.get("", api.list_turns),
        web.get("/export", api.export_turns),
        web.get(f"/{{turn_id:{api.TURN_ID}}}", api.get_turn),
        web.post(f"/{{turn_id:{api.TURN_ID}}}/review", api.review_turn),
        web.post(f"/{{turn_id:{api.TURN_ID}}}/promote", promote.promote),
    ])
    stats.add_routes([web.get("", api.get_stats)])
    drifts.add_routes([web.get("", drift.get_drift)])
    knowledge.add_routes([
        web.get("/changes", promote.list_changes),
        web.post(f"/changes/{{change_id:{promote.CHANGE_ID}}}/undo", promote.undo),
        web.get("/entries", promote.entries),
    ])
    return {"/api/turns": turns, "/api/stats": stats, "/api/drift": drifts, "/api/knowledge": knowledge}
