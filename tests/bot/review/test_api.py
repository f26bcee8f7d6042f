"""The review API on a small app with the real error middleware (auth is wired separately)."""

import csv
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.auth.guard import Role, required_roles
from bot.auth.users import User
from bot.review import api as review_api
from bot.review.api import OPERATIONS
from bot.review.app import create_feature
from bot.serving.turnlog import REVIEW_STORE
from bot.web.errors import error_middleware
from bot.web.kernel import mount
from bot.web.keys import USER
from core.db import make_engine
from core.turns import Flag, Route, TurnRecord
from monitoring.reviews import ReviewStore
from monitoring.turnlog import TurnLog
from tests.turns import T0, turn


@web.middleware
async def signed_in_as_header(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Stands in for the auth middleware (tested on its own): the user named in X-Test-User."""
    request[USER] = User(request.headers.get("X-Test-User", "nobody"), Role.AUDITOR)
    return await handler(request)


TURNS = [
    turn("t1", 0, text="=HYPERLINK(evil)", reply="2-3 working days."),
    turn(
        "t2",
        1,
        text="candle?",
        reply="Mail alice@example.com",
        route=Route.GENERATE,
        flags=(Flag.GENERATED, Flag.LOW_CONFIDENCE),
        confidence=0.4,
    ),
    turn("t3", 2, text="lamps", reply="Here are lamps.", route=Route.PRODUCTS),
]


@asynccontextmanager
async def review_app(aiohttp_client, tmp_path: Path, turns: list[TurnRecord]) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    """The review feature on a turn log holding ``turns``."""
    url = f"sqlite:///{tmp_path / 'turns.db'}"
    engine = make_engine(url)
    log = TurnLog(engine)
    log.create()
    log.write(turns)
    store = ReviewStore(engine)
    store.create()
    app = web.Application(middlewares=[error_middleware, signed_in_as_header])
    app[REVIEW_STORE] = store
    mount(app, create_feature())
    try:
        yield await aiohttp_client(app)
    finally:
        engine.dispose()


@pytest.fixture
async def api(aiohttp_client, tmp_path: Path) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    async with review_app(aiohttp_client, tmp_path, TURNS) as client:
        yield client


async def test_list_filters_and_pages(api: TestClient) -> None:
    resp = await api.get("/api/turns", params={"limit": "2"})
    assert resp.status == 200
    page = await resp.json()
    assert [t["turn_id"] for t in page["items"]] == ["t3", "t2"]
    resp = await api.get("/api/turns", params={"limit": "2", "cursor": page["next_cursor"]})
    last = await resp.json()
    assert [t["turn_id"] for t in last["items"]] == ["t1"] and last["next_cursor"] is None
    resp = await api.get(
        "/api/turns",
        params={
            "flag": "generated",
            "route": "generate",
            "max_score": "0.5",
            "since": "2026-11-23T13:00:30+01:00",
        },
    )
    (item,) = (await resp.json())["items"]
    assert item["turn_id"] == "t2" and item["confidence"] == 0.4 and item["review"] is None
    assert item["response"][0]["text"] == "Mail [EMAIL]", "replies are redacted for auditors"
    resp = await api.get("/api/turns", params={"q": "LAMPS", "reviewed": "false"})
    assert [t["turn_id"] for t in (await resp.json())["items"]] == ["t3"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("flags=error", "unknown parameter flags"),
        ("flag=bogus", "flag: must be one of"),
        ("route=faq&route=generate", "route: give it once"),
        ("reviewed=yes", "reviewed: must be true or false"),
        ("since=yesterday", "since: must be an ISO-8601"),
        ("since=2026-11-24&until=2026-11-23", "until must be after since"),
        ("min_score=abc", "min_score: must be a number"),
        ("min_score=nan", "min_score: must be a finite number"),
        ("min_score=0.8&max_score=0.2", "max_score must not be below min_score"),
        ("limit=0", "limit: must be a whole number"),
        ("limit=501", "limit: must be a whole number"),
        ("cursor=xyz", "cursor: not a cursor"),
        ("q=" + "x" * 201, "q: must be at most 200"),
    ],
)
async def test_list_rejects_bad_parameters(api: TestClient, query: str, message: str) -> None:
    resp = await api.get(f"/api/turns?{query}")
    assert resp.status == 400
    body = await resp.json()
    assert body["error"]["code"] == "bad_request"
    assert message in body["error"]["message"]


async def test_review_then_detail(api: TestClient) -> None:
    resp = await api.post(
        "/api/turns/t2/review",
        json={"verdict": "incorrect", "correction": "Ask bob@example.com"},
        headers={"X-Test-User": "ann"},
    )
    assert resp.status == 201
    first = await resp.json()
    assert (first["verdict"], first["reviewer"], first["correction"]) == ("incorrect", "ann", "Ask [EMAIL]")
    resp = await api.post("/api/turns/t2/review", json={"verdict": "correct", "note": "fine after all"})
    assert resp.status == 201
    resp = await api.get("/api/turns/t2")
    assert resp.status == 200
    detail = await resp.json()
    assert detail["turn"]["review"]["verdict"] == "correct"
    assert [r["verdict"] for r in detail["reviews"]] == ["correct", "incorrect"]
    assert [t["turn_id"] for t in detail["context"]["before"]] == ["t1"]
    assert [t["turn_id"] for t in detail["context"]["after"]] == ["t3"]
    assert detail["latency_ms"]["total"] == 100.0
    assert detail["evidence"]["hits"][0]["id"] == "delivery_times"
    resp = await api.get("/api/turns", params={"verdict": "correct"})
    assert [t["turn_id"] for t in (await resp.json())["items"]] == ["t2"]
    resp = await api.get("/api/turns/t2", params={"context": "0"})
    assert resp.status == 400


def with_cards(record: TurnRecord, *products: tuple[str, str]) -> TurnRecord:
    """``record`` answering with product cards of these (stock code, name)s."""
    cards = [{"stock_code": code, "name": name, "price": 1.65} for code, name in products]
    message = {"recipient_id": record.conversation_id, "custom": {"type": "products", "products": cards}}
    return replace(record, route=Route.PRODUCTS, response=(*record.response, message))


def read_as(record: TurnRecord, **reading: object) -> TurnRecord:
    """``record`` with how it was read in its conversation in its metadata."""
    return replace(record, metadata={**record.metadata, **reading})


# Bags shown, the second one's price asked (a draft with a shopper's address withheld, redacted
# when logged), then a message that stood alone.
CONVERSATION = [
    with_cards(turn("b1", 0, conversation="bags", text="any pink lunch bags?", reply="Here is what I found:"),
               ("22384", "Lunch Bag Pink Polkadot"), ("62086A", "Pink Retro Big Flower Bag")),
    read_as(turn("b2", 1, conversation="bags", text="how much is the second one?", reply="£1.95",
                 route=Route.GENERATE),
            resolved="how much is the Pink Retro Big Flower Bag?", refers_to=["62086A", "99999"],
            context_act="ordinal", withheld_draft="Ask [EMAIL] about the Pink Retro Big Flower Bag."),
    turn("b3", 2, conversation="bags", text="how long is delivery?"),
]


async def test_detail_shows_how_a_message_was_read_in_context(aiohttp_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async with review_app(aiohttp_client, tmp_path, CONVERSATION) as api:
        detail = await (await api.get("/api/turns/b2")).json()
        assert detail["reading"] == {
            "resolved": "how much is the Pink Retro Big Flower Bag?",
            "act": "ordinal",
            "refers_to": [{"stock_code": "62086A", "name": "Pink Retro Big Flower Bag"},
                          {"stock_code": "99999", "name": None}],
        }, "named from the cards shown before; a code no card names stays a code"
        assert detail["withheld_draft"] == "Ask [EMAIL] about the Pink Retro Big Flower Bag."
        assert (detail["turn"]["resolved"], detail["turn"]["refers_to"]) == (
            "how much is the Pink Retro Big Flower Bag?", ["62086A", "99999"])
        alone = await (await api.get("/api/turns/b3")).json()
        assert (alone["reading"], alone["withheld_draft"]) == (None, None)
        assert (alone["turn"]["resolved"], alone["turn"]["refers_to"]) == (None, [])
        items = (await (await api.get("/api/turns", params={"reviewed": "false"})).json())["items"]
        assert [(t["turn_id"], t["resolved"]) for t in items] == [
            ("b3", None), ("b2", "how much is the Pink Retro Big Flower Bag?"), ("b1", None)]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"verdict": "meh"}, 400),
        ({"verdict": "correct", "extra": 1}, 400),
        ({"verdict": "correct", "note": ""}, 400),
        ({"verdict": "correct", "note": 5}, 400),
        ({}, 400),
        ("not an object", 400),
    ],
)
async def test_review_rejects_bad_bodies(api: TestClient, body: object, status: int) -> None:
    resp = await api.post("/api/turns/t1/review", json=body)
    assert resp.status == status
    assert (await resp.json())["error"]["code"] == "bad_request"


async def test_unknown_turns_are_404(api: TestClient) -> None:
    for resp in (
        await api.get("/api/turns/nope"),
        await api.post("/api/turns/nope/review", json={"verdict": "correct"}),
    ):
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "not_found"
    resp = await api.get("/api/turns/" + "x" * 65)
    assert resp.status == 404, "ids longer than the column do not match the route"


async def test_export_csv_and_jsonl(api: TestClient) -> None:
    await api.post("/api/turns/t1/review", json={"verdict": "unsafe", "note": "=cmd|' /C calc'!A0"})
    resp = await api.get("/api/turns/export", params={"format": "csv"})
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [r["turn_id"] for r in rows] == ["t1", "t2", "t3"], "oldest first"
    assert rows[0]["user_text"] == "'=HYPERLINK(evil)", "formulas neutralised"
    assert rows[0]["note"] == "'=cmd|' /C calc'!A0"
    assert rows[0]["verdict"] == "unsafe" and rows[1]["verdict"] == ""
    assert "alice@" not in json.dumps(rows)
    resp = await api.get("/api/turns/export", params={"format": "jsonl", "flag": "generated"})
    assert resp.headers["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in (await resp.text()).splitlines()]
    assert [r["turn_id"] for r in lines] == ["t2"]
    assert lines[0]["response"][0]["text"] == "Mail [EMAIL]" and lines[0]["review"] is None
    resp = await api.get("/api/turns/export", params={"format": "xlsx"})
    assert resp.status == 400


async def test_export_streams_many_pages(api: TestClient) -> None:
    store = api.app[REVIEW_STORE]
    log = TurnLog(store.engine)
    log.write([turn(f"m{i:04d}", 10 + i / 100) for i in range(review_api.EXPORT_PAGE + 20)])
    resp = await api.get("/api/turns/export")
    lines = (await resp.text()).splitlines()
    assert len(lines) == len(TURNS) + review_api.EXPORT_PAGE + 20
    assert len({json.loads(line)["turn_id"] for line in lines}) == len(lines)


async def test_stats_endpoint(api: TestClient) -> None:
    params = {"since": "2026-11-23T12:00:00Z", "until": "2026-11-23T12:04:00Z", "bucket": "2m"}
    resp = await api.get("/api/stats", params=params)
    assert resp.status == 200
    body = await resp.json()
    assert body["since"] == T0.isoformat()
    assert [b["turns"] for b in body["buckets"]] == [2, 1]
    assert body["total"]["routes"]["generate"] == 1
    assert body["total"]["flag_rates"]["low_confidence"] == pytest.approx(1 / 3, abs=1e-4)
    for bad in ({"bucket": "2w"}, {"bucket": "1s", "since": "2026-01-01T00:00:00Z"}, {"window": "1d"}):
        resp = await api.get("/api/stats", params={**params, **bad})
        assert resp.status == 400, bad


def test_every_route_is_for_auditors_and_documented() -> None:
    app = web.Application()
    mount(app, create_feature())
    routes = {
        (r.method, r.resource.canonical): r.handler
        for r in app.router.routes()
        if r.resource is not None and r.method != "HEAD" and r.handler.__module__ == review_api.__name__
    }
    assert set(routes) == set(OPERATIONS)
    for handler in routes.values():
        assert required_roles(handler) == {Role.AUDITOR, Role.ADMIN}
    list_params = {p["name"] for p in OPERATIONS[("GET", "/api/turns")]["parameters"]}
    assert list_params == set(review_api.LIST_PARAMS)
    export_params = {p["name"] for p in OPERATIONS[("GET", "/api/turns/export")]["parameters"]}
    assert export_params == set(review_api.EXPORT_PARAMS)
