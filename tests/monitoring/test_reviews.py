from collections.abc import Iterator
from datetime import timedelta, timezone
from pathlib import Path

import pytest

from core.db import make_engine
from core.turns import Flag, Route
from harness.pg import postgres_server
from monitoring.redact import Redactor
from monitoring.reviews import ReviewStore
from monitoring.turnlog import TurnLog
from monitoring.turnlog.listing import Cursor, TurnFilter
from monitoring.turnlog.reviews import Verdict
from tests.turns import T0, turn

TURNS = [
    turn("t1", 0, text="my email is [EMAIL], how long is delivery?", reply="2-3 working days."),
    turn(
        "t2",
        1,
        text="is the candle nice?",
        reply="The Candle costs £5 (50% off).",
        route=Route.GENERATE,
        flags=(Flag.LOW_CONFIDENCE, Flag.GENERATED, Flag.UNGROUNDED),
        confidence=0.4,
    ),
    turn(
        "t3",
        2,
        text="where is order 123456?",
        reply="Sorry, something went wrong.",
        route=Route.ERROR,
        flags=(Flag.ERROR,),
        confidence=0.0,
    ),
    turn(
        "t4",
        3,
        text="a person please",
        reply="Connecting you.",
        route=Route.HANDOFF,
        flags=(Flag.HANDOFF_REQUESTED,),
    ),
    turn(
        "u1",
        1.5,
        conversation="c2",
        text="Is 500 OK?",
        reply="Write to alice@example.com",
        route=Route.GENERATE,
        flags=(Flag.GENERATION_FAILED,),
        confidence=0.3,
    ),
    turn(
        "u2",
        4,
        conversation="c2",
        text="lamps",
        reply="Here are some lamps.",
        route=Route.PRODUCTS,
        confidence=0.7,
        buttons=("Red Lantern",),
    ),
]


def _store(url: str) -> ReviewStore:
    engine = make_engine(url)
    log = TurnLog(engine)
    log.create()
    log.write(TURNS)
    store = ReviewStore(engine)
    store.create()
    store.create()  # idempotent
    return store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ReviewStore]:
    s = _store(f"sqlite:///{tmp_path / 'turns.db'}")
    yield s
    s.engine.dispose()


def ids(store: ReviewStore, **kw: object) -> list[str]:
    return [t.record.turn_id for t in store.list_turns(TurnFilter(**kw), limit=100).items]  # type: ignore[arg-type]


def _scenario(store: ReviewStore) -> None:
    """The filters on any backend."""
    assert ids(store) == ["u2", "t4", "t3", "u1", "t2", "t1"], "newest first"
    assert ids(store, route=Route.GENERATE) == ["u1", "t2"]
    assert ids(store, flag=Flag.ERROR) == ["t3"], "generation_failed is not error"
    assert ids(store, flag=Flag.GENERATED) == ["t2"]
    assert ids(store, flag=Flag.NEGATIVE_FEEDBACK) == []
    assert ids(store, min_score=0.5) == ["u2", "t4", "t1"]
    assert ids(store, max_score=0.4) == ["t3", "u1", "t2"]
    assert ids(store, min_score=0.35, max_score=0.75) == ["u2", "t2"]
    assert ids(store, since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3)) == ["t3", "u1", "t2"]
    plus2 = timezone(timedelta(hours=2))
    assert ids(store, since=(T0 + timedelta(minutes=3)).astimezone(plus2)) == ["u2", "t4"], "offsets honoured"
    assert ids(store, q="DELIVERY") == ["t1"], "case-insensitive, user text"
    assert ids(store, q="50% off") == ["t2"], "% is literal, not a wildcard"
    assert ids(store, q="5_0") == []
    assert ids(store, q="£5") == ["t2"], "non-ASCII in a stored JSON reply"
    assert ids(store, q="lantern") == ["u2"], "button titles are searched"
    assert ids(store, q="recipient") == [] and ids(store, q="c2") == [], "JSON keys and ids are not text"
    assert ids(store, q="alice") == [], "search sees only redacted replies"
    assert ids(store, route=Route.GENERATE, max_score=0.35, q="write") == ["u1"]

    store.add_review("t2", Verdict.INCORRECT, "ann", correction="It costs £6.")
    store.add_review("t2", Verdict.CORRECT, "bob", note="price checked")
    store.add_review("t3", Verdict.UNSAFE, "ann")
    assert ids(store, reviewed=True) == ["t3", "t2"]
    assert ids(store, reviewed=False) == ["u2", "t4", "u1", "t1"]
    assert ids(store, verdict=Verdict.CORRECT) == ["t2"], "latest review wins"
    assert ids(store, verdict=Verdict.INCORRECT) == []
    assert ids(store, verdict=Verdict.UNSAFE, flag=Flag.ERROR) == ["t3"]
    (t2,) = store.list_turns(TurnFilter(route=Route.GENERATE, min_score=0.35)).items
    assert t2.review is not None and (t2.review.verdict, t2.review.reviewer) == (Verdict.CORRECT, "bob")
    assert [r.verdict for r in store.reviews_of("t2")] == [Verdict.CORRECT, Verdict.INCORRECT]

    pages, cursor = [], None
    while True:
        page = store.list_turns(TurnFilter(), limit=2, cursor=cursor)
        pages.append([t.record.turn_id for t in page.items])
        if page.next_cursor is None:
            break
        cursor = Cursor.decode(page.next_cursor)
    assert pages == [["u2", "t4"], ["t3", "u1"], ["t2", "t1"]]
    every = (t for page in store.iter_pages(TurnFilter(), page_size=4) for t in page)
    assert [t.record.turn_id for t in every] == [
        "t1",
        "t2",
        "u1",
        "t3",
        "t4",
        "u2",
    ]


def test_filters_paging_and_reviews_on_sqlite(store: ReviewStore) -> None:
    _scenario(store)


@pytest.mark.postgres
def test_filters_paging_and_reviews_on_postgresql() -> None:
    with postgres_server() as url:
        store = _store(url)
        try:
            _scenario(store)
        finally:
            store.engine.dispose()


def test_text_search_pages_through_python_filtering(store: ReviewStore) -> None:
    # "o" matches many turns in SQL; paging must still be exact after the Python check.
    expected = ids(store, q="o")
    seen, cursor = [], None
    while True:
        page = store.list_turns(TurnFilter(q="o"), limit=1, cursor=cursor)
        seen += [t.record.turn_id for t in page.items]
        if page.next_cursor is None:
            break
        cursor = Cursor.decode(page.next_cursor)
    assert len(expected) >= 4
    assert seen == expected


def test_replies_and_review_text_come_back_redacted(store: ReviewStore) -> None:
    (u1,) = store.list_turns(TurnFilter(q="write")).items
    assert u1.record.response[0]["text"] == "Write to [EMAIL]"
    review = store.add_review(
        "u1", Verdict.UNSAFE, "ann", correction="ask bob@example.com", note="+44 20 7946 0958"
    )
    assert review is not None
    assert (review.correction, review.note) == ("ask [EMAIL]", "[PHONE]")
    assert store.reviews_of("u1")[0].correction == "ask [EMAIL]", "stored redacted"
    assert store.add_review("nope", Verdict.CORRECT, "ann") is None


def test_turn_detail_has_context_evidence_latency_and_history(store: ReviewStore) -> None:
    store.add_review("t3", Verdict.INCORRECT, "ann")
    store.add_review("t3", Verdict.UNSAFE, "bob", note="leaks order ids")
    detail = store.turn_detail("t3")
    assert detail is not None
    assert [r.turn_id for r in detail.before] == ["t1", "t2"], "same conversation only, in order"
    assert [r.turn_id for r in detail.after] == ["t4"]
    body = detail.to_json()
    assert body["turn"]["turn_id"] == "t3"
    assert body["turn"]["review"]["verdict"] == "unsafe"
    assert [r["reviewer"] for r in body["reviews"]] == ["bob", "ann"]
    assert body["latency_ms"] == {"embed": 5.0, "search": 1.0, "total": 100.0}
    assert body["evidence"]["hits"][0]["id"] == "delivery_times"
    assert body["evidence"]["passages"] == ["2-3 working days"]
    assert body["routing"]["label"] == "delivery_times"
    assert body["context"]["before"][0]["user_text"] == "my email is [EMAIL], how long is delivery?"
    narrow = store.turn_detail("t3", context=1)
    assert narrow is not None and [r.turn_id for r in narrow.before] == ["t2"]
    assert store.turn_detail("missing") is None


def test_cursor_round_trip_and_rejects_junk() -> None:
    cursor = Cursor(T0, "t1")
    assert Cursor.decode(cursor.encode()) == cursor
    for junk in ("", "abc", "!!!", "WzFd"):
        with pytest.raises(ValueError):
            Cursor.decode(junk)


SHOP = "hello@shopbot-demo.example"


def test_the_view_redacts_with_the_redactor_it_is_built_with(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    log = TurnLog(engine)
    log.create()
    # Stored as an older version logged it: the view redacts replies again before showing them.
    log.write([turn("s1", 0, reply=f"Mail {SHOP}, not jane@example.com")])
    store = ReviewStore(engine, Redactor(frozenset({SHOP})))
    store.create()
    shown = f"Mail {SHOP}, not [EMAIL]"
    (item,) = store.list_turns(TurnFilter()).items
    assert item.record.response[0]["text"] == shown
    detail = store.turn_detail("s1")
    assert detail is not None and detail.turn.record.response[0]["text"] == shown
    assert ids(store, q=SHOP) == ["s1"] and ids(store, q="jane") == [], "search sees what the view shows"
    review = store.add_review("s1", Verdict.INCORRECT, "ann", correction=f"Email {SHOP}",
                              note="jane@example.com")
    assert review is not None and (review.correction, review.note) == (f"Email {SHOP}", "[EMAIL]")
    (plain,) = ReviewStore(engine).list_turns(TurnFilter()).items
    assert plain.record.response[0]["text"] == "Mail [EMAIL], not [EMAIL]", "no shop details: nothing kept"
    engine.dispose()
