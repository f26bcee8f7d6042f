"""The auditors' review API: list, read, review and export logged turns; bucketed statistics.

Every handler is marked ``@requires(Role.AUDITOR)``; the auth middleware enforces it. Query
parameters are validated strictly: unknown, repeated or malformed ones are a 400.
"""

from __future__ import annotations

import asyncio
import io
import math
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from aiohttp import web
from multidict import MultiMapping
from pydantic import BaseModel, ConfigDict, Field

from bot.auth.guard import Role, requires
from bot.serving.turnlog import REVIEW_STORE, SINK
from bot.web.auth import current_user
from bot.web.body import read_json
from bot.web.openapi import operation
from core.db import as_utc
from core.errors import BadRequest, NotFound
from core.turns import Flag, Route
from monitoring.export import write_reviewed_csv, write_reviewed_jsonl
from monitoring.reviews import ReviewStore
from monitoring.stats import check_window, parse_bucket, turn_stats
from monitoring.turnlog.listing import Cursor, TurnFilter
from monitoring.turnlog.reviews import Verdict

DEFAULT_LIMIT = 50
DEFAULT_CONTEXT = 5
MAX_CONTEXT = 50
MAX_LIMIT = 500
EXPORT_PAGE = 500
DEFAULT_STATS_WINDOW = timedelta(days=1)
DEFAULT_BUCKET = "1h"
TURN_ID = r"[A-Za-z0-9_.:-]{1,64}"
MAX_Q_CHARS = 200

Parser = Callable[[str], Any]


def _choice(kind: type[StrEnum]) -> Parser:
    def parse(text: str) -> Any:
        try:
            return kind(text)
        except ValueError as err:
            raise ValueError(f"must be one of {', '.join(kind)}") from err

    return parse


def _boolean(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError("must be true or false")
    return text == "true"


def _instant(text: str) -> datetime:
    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError as err:
        raise ValueError("must be an ISO-8601 date or time, e.g. 2026-11-23T12:00:00Z") from err


def _score(text: str) -> float:
    try:
        value = float(text)
    except ValueError as err:
        raise ValueError("must be a number") from err
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _search_text(text: str) -> str:
    if not text.strip() or "\x00" in text:
        raise ValueError("must be non-empty text")
    if len(text) > MAX_Q_CHARS:
        raise ValueError(f"must be at most {MAX_Q_CHARS} characters")
    return text


def _whole(low: int, high: int) -> Parser:
    def parse(text: str) -> int:
        if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return int(text)

    return parse


def _format(text: str) -> str:
    if text not in ("csv", "jsonl"):
        raise ValueError("must be csv or jsonl")
    return text


FILTER_PARAMS: dict[str, Parser] = {
    "flag": _choice(Flag),
    "route": _choice(Route),
    "reviewed": _boolean,
    "verdict": _choice(Verdict),
    "since": _instant,
    "until": _instant,
    "q": _search_text,
    "min_score": _score,
    "max_score": _score,
}
LIST_PARAMS = {**FILTER_PARAMS, "limit": _whole(1, MAX_LIMIT), "cursor": Cursor.decode}
EXPORT_PARAMS = {**FILTER_PARAMS, "format": _format}
STATS_PARAMS: dict[str, Parser] = {"since": _instant, "until": _instant, "bucket": parse_bucket}
DETAIL_PARAMS: dict[str, Parser] = {"context": _whole(1, MAX_CONTEXT)}


def parse_query(query: MultiMapping[str], parsers: Mapping[str, Parser]) -> dict[str, Any]:
    """Parse ``query`` with one parser per allowed name; anything else is a ``BadRequest``."""
    unknown = sorted(set(query) - parsers.keys())
    if unknown:
        raise BadRequest(f"unknown parameter {', '.join(unknown)}; allowed: {', '.join(parsers)}")
    values: dict[str, Any] = {}
    for name in set(query):
        given = query.getall(name)
        if len(given) > 1:
            raise BadRequest(f"{name}: give it once")
        try:
            values[name] = parsers[name](given[0])
        except ValueError as err:
            raise BadRequest(f"{name}: {err}") from err
    return values


def turn_filter(values: Mapping[str, Any]) -> TurnFilter:
    """The filter of parsed query values, with the cross-field checks."""
    filters = TurnFilter(**{k: v for k, v in values.items() if k in FILTER_PARAMS})
    if filters.since and filters.until and filters.until <= filters.since:
        raise BadRequest("until must be after since")
    low, high = filters.min_score, filters.max_score
    if low is not None and high is not None and high < low:
        raise BadRequest("max_score must not be below min_score")
    return filters


async def _store(request: web.Request) -> ReviewStore:
    # Turns answered a moment ago may still sit in the writer's queue.
    sink = request.config_dict.get(SINK)
    if sink is not None:
        await sink.flushed()
    return request.config_dict[REVIEW_STORE]


@requires(Role.AUDITOR)
async def list_turns(request: web.Request) -> web.Response:
    """``GET /api/turns``: a page of turns, newest first, and the cursor of the next page."""
    values = parse_query(request.query, LIST_PARAMS)
    filters = turn_filter(values)
    store = await _store(request)
    limit = values.get("limit", DEFAULT_LIMIT)
    page = await asyncio.to_thread(store.list_turns, filters, limit, values.get("cursor"))
    return web.json_response(
        {"items": [t.to_json() for t in page.items], "next_cursor": page.next_cursor, "limit": limit}
    )


@requires(Role.AUDITOR)
async def get_turn(request: web.Request) -> web.Response:
    """``GET /api/turns/{turn_id}``: the turn, its conversation around it, evidence and latency."""
    context = parse_query(request.query, DETAIL_PARAMS).get("context", DEFAULT_CONTEXT)
    store = await _store(request)
    detail = await asyncio.to_thread(store.turn_detail, request.match_info["turn_id"], context)
    if detail is None:
        raise NotFound("no such turn")
    return web.json_response(detail.to_json())


class ReviewBody(BaseModel):
    """``{"verdict": "correct"|"incorrect"|"unsafe", "correction"?, "note"?}``."""

    model_config = ConfigDict(extra="forbid")

    verdict: Literal["correct", "incorrect", "unsafe"]
    correction: str | None = Field(default=None, min_length=1, max_length=4000)
    note: str | None = Field(default=None, min_length=1, max_length=2000)


@requires(Role.AUDITOR)
async def review_turn(request: web.Request) -> web.Response:
    """``POST /api/turns/{turn_id}/review``: store a verdict; 201 with the stored review."""
    parse_query(request.query, {})
    body = await read_json(request, ReviewBody)
    store = await _store(request)
    review = await asyncio.to_thread(
        store.add_review,
        request.match_info["turn_id"],
        Verdict(body.verdict),
        current_user(request).username,
        body.correction,
        body.note,
    )
    if review is None:
        raise NotFound("no such turn")
    return web.json_response(review.to_json(), status=201)


async def _export_chunks(store: ReviewStore, filters: TurnFilter, fmt: str) -> AsyncIterator[str]:
    pages = store.iter_pages(filters, EXPORT_PAGE)
    first = True
    # One page per worker-thread hop: the export streams without holding the event loop.
    while (items := await asyncio.to_thread(next, pages, None)) is not None:
        out = io.StringIO()
        if fmt == "csv":
            write_reviewed_csv(items, out, header=first)
        else:
            write_reviewed_jsonl(items, out)
        yield out.getvalue()
        first = False


@requires(Role.AUDITOR)
async def export_turns(request: web.Request) -> web.StreamResponse:
    """``GET /api/turns/export?format=csv|jsonl``: every matching turn, oldest first, streamed."""
    values = parse_query(request.query, EXPORT_PARAMS)
    filters = turn_filter(values)
    fmt = values.get("format", "jsonl")
    store = await _store(request)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson",
            "Content-Disposition": f'attachment; filename="shopbot-turns-{stamp}.{fmt}"',
        }
    )
    await response.prepare(request)
    async for chunk in _export_chunks(store, filters, fmt):
        if chunk:
            await response.write(chunk.encode("utf-8"))
    await response.write_eof()
    return response


@requires(Role.AUDITOR)
async def get_stats(request: web.Request) -> web.Response:
    """``GET /api/stats``: latency p50/p95, route mix, flag rates, feedback, handoff rate per bucket."""
    values = parse_query(request.query, STATS_PARAMS)
    until = values.get("until") or datetime.now(UTC)
    since = values.get("since") or until - DEFAULT_STATS_WINDOW
    bucket = values.get("bucket") or parse_bucket(DEFAULT_BUCKET)
    try:
        check_window(since, until, bucket)
    except ValueError as err:
        raise BadRequest(str(err)) from err
    store = await _store(request)
    report = await asyncio.to_thread(turn_stats, store.engine, since, until, bucket)
    return web.json_response(report.to_json())


def _param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


_TIME = {"type": "string", "format": "date-time"}
FILTER_DOCS = [
    _param("flag", "turns carrying this quality flag", {"type": "string", "enum": [str(f) for f in Flag]}),
    _param("route", "turns sent to this route", {"type": "string", "enum": [str(r) for r in Route]}),
    _param("reviewed", "only reviewed (true) or unreviewed (false) turns", {"type": "boolean"}),
    _param("verdict", "latest review's verdict", {"type": "string", "enum": [str(v) for v in Verdict]}),
    _param("since", "from this time (ISO-8601, inclusive; no offset means UTC)", _TIME),
    _param("until", "before this time (ISO-8601, exclusive)", _TIME),
    _param(
        "q",
        "case-insensitive text in the (redacted) message or the reply",
        {"type": "string", "minLength": 1, "maxLength": MAX_Q_CHARS},
    ),
    _param("min_score", "router confidence at least this", {"type": "number"}),
    _param("max_score", "router confidence at most this", {"type": "number"}),
]
_TURN_ID_PARAM = {"name": "turn_id", "in": "path", "required": True, "schema": {"type": "string"}}
_ERRORS = {
    "400": {"description": "bad parameter"},
    "401": {"description": "not signed in"},
    "403": {"description": "not an auditor or admin"},
}

# OpenAPI operation objects of this module's routes, keyed by (method, path).
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/api/turns"): {
        "summary": "List logged turns, newest first",
        "parameters": [
            *FILTER_DOCS,
            _param(
                "limit",
                "page size",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            ),
            _param("cursor", "next_cursor of the previous page", {"type": "string"}),
        ],
        "responses": {"200": {"description": "{items: [turn], next_cursor, limit}"}, **_ERRORS},
    },
    ("GET", "/api/turns/export"): {
        "summary": "Export matching turns with their latest review, oldest first",
        "parameters": [
            *FILTER_DOCS,
            _param("format", "file format", {"type": "string", "enum": ["csv", "jsonl"], "default": "jsonl"}),
        ],
        "responses": {"200": {"description": "text/csv or application/x-ndjson attachment"}, **_ERRORS},
    },
    ("GET", "/api/turns/{turn_id}"): {
        "summary": "A turn with its conversation context, evidence, latency and reviews",
        "description": "`{turn, latency_ms, evidence, routing, context, reviews, reading, withheld_draft}`: "
                       "`reading` is how the message was read in its conversation (`{resolved, act, "
                       "refers_to: [{stock_code, name}]}`, names from the cards and product hits of the "
                       "turn and the turns before it, null where unknown), null when it stood alone; "
                       "`withheld_draft` a generated draft the verifier did not send, or null. "
                       "All text is redacted.",
        "parameters": [
            _TURN_ID_PARAM,
            _param(
                "context",
                "turns shown before and after",
                {"type": "integer", "minimum": 1, "maximum": 50, "default": 5},
            ),
        ],
        "responses": {
            "200": {"description": "turn detail"},
            "404": {"description": "no such turn"},
            **_ERRORS,
        },
    },
    ("POST", "/api/turns/{turn_id}/review"): {
        "summary": "Review a turn (the latest review wins; earlier ones are kept)",
        "parameters": [_TURN_ID_PARAM],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ReviewBody.model_json_schema()}},
        },
        "responses": {
            "201": {"description": "the stored review"},
            "404": {"description": "no such turn"},
            **_ERRORS,
        },
    },
    ("GET", "/api/stats"): {
        "summary": "Latency p50/p95, route mix, flag rates, feedback and handoff rate per time bucket",
        "parameters": [
            _param("since", "window start (default: until minus one day)", _TIME),
            _param("until", "window end (default: now)", _TIME),
            _param(
                "bucket",
                "bucket width: 30s, 5m, 1h, 1d …",
                {"type": "string", "pattern": "^[1-9][0-9]{0,3}[smhd]$", "default": DEFAULT_BUCKET},
            ),
        ],
        "responses": {"200": {"description": "{since, until, bucket_seconds, total, buckets}"}, **_ERRORS},
    },
}


def _describe() -> None:
    """Attach each route's OpenAPI description (from ``OPERATIONS``) to its handler."""
    handlers = {
        ("GET", "/api/turns"): list_turns,
        ("GET", "/api/turns/export"): export_turns,
        ("GET", "/api/turns/{turn_id}"): get_turn,
        ("POST", "/api/turns/{turn_id}/review"): review_turn,
        ("GET", "/api/stats"): get_stats,
    }
    for key, handler in handlers.items():
        spec = OPERATIONS[key]
        extra = {int(code): r["description"] for code, r in spec["responses"].items()
                 if code not in ("200", "201", "400", "401", "403")}
        operation(
            spec["summary"],
            description=spec.get("description", ""),
            request_body=ReviewBody if key[0] == "POST" else None,
            status=201 if key[0] == "POST" else 200,
            responses=extra,
            tags=("review",),
            parameters=[p for p in spec.get("parameters", []) if p["in"] == "query"],
        )(handler)


_describe()
