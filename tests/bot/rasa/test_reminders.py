"""Rasa's reminders (``bot/rasa/reminders.py``): booked, replaced, cancelled and killed as Rasa does,
kept in the database across a restart, and fired once across workers racing for them.

The scheduler's ``fire`` and ``deliver`` are the turn pipeline and the socket.io push in the app;
here they record what they are given. The last test runs reminderbot through the real app.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from bot.rasa.payload import parse_payload, payload_text
from bot.rasa.ports import ReminderBook
from bot.rasa.reminders import (
    DatabaseReminders,
    ReminderScheduler,
    due_query,
    due_time,
    metadata,
    reminders,
)
from core.db import make_engine
from core.messages import BotMessage

CONVERSATION = "c1"


class Recorder:
    """Stands in for the turn pipeline and the socket.io push: records each call."""

    def __init__(self, fail: int = 0) -> None:
        self.fired: list[tuple[str, str, list[dict[str, Any]]]] = []
        self.delivered: list[tuple[str, list[str | None]]] = []
        self.fail = fail

    async def fire(self, conversation_id: str, intent: str,
                   entities: list[dict[str, Any]]) -> list[BotMessage]:
        await asyncio.sleep(0)  # lets racing workers interleave
        if self.fail:
            self.fail -= 1
            raise RuntimeError("the action server is away")
        self.fired.append((conversation_id, intent, entities))
        return [BotMessage(text=f"{intent} fired")]

    async def deliver(self, conversation_id: str, messages: Any) -> None:
        self.delivered.append((conversation_id, [m.text for m in messages]))


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def event(intent: str = "EXTERNAL_reminder", *, at: datetime | None = None, name: str | None = "r",
          entities: Any = None, kill: bool | None = None) -> dict[str, Any]:
    """A ``reminder`` event as rasa-sdk's ReminderScheduled writes it."""
    out: dict[str, Any] = {"event": "reminder", "timestamp": None, "intent": intent, "entities": entities,
                           "date_time": (at or datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                           "name": name}
    if kill is not None:
        out["kill_on_user_msg"] = kill
    return out


def cancel(**given: Any) -> dict[str, Any]:
    """A ``cancel_reminder`` event as rasa-sdk's ReminderCancelled writes it."""
    return {"event": "cancel_reminder", "timestamp": None, "name": None, "intent": None, "entities": None,
            **given}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shopbot.db'}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def book(engine: Engine, clock: Clock) -> DatabaseReminders:
    return DatabaseReminders(engine, clock=clock)


def names(book: DatabaseReminders, conversation_id: str = CONVERSATION) -> list[str]:
    return [r.name for r in book.pending(conversation_id)]


async def test_a_due_reminder_fires_its_intent_with_its_entities(book: DatabaseReminders,
                                                                 clock: Clock) -> None:
    rec = Recorder()
    scheduler = ReminderScheduler(book, rec.fire, rec.deliver, worker="w1")
    await book.schedule(CONVERSATION, event(at=clock.now + timedelta(seconds=30),
                                            entities=[{"entity": "person", "value": "Alice", "start": 15,
                                                       "end": 20, "extractor": "DIETClassifier"}]))
    assert await scheduler.tick() == 0 and rec.fired == [], "not due yet"
    clock.now += timedelta(seconds=31)
    assert await scheduler.tick() == 1
    assert rec.fired == [(CONVERSATION, "EXTERNAL_reminder", [{"entity": "person", "value": "Alice"}])]
    assert rec.delivered == [(CONVERSATION, ["EXTERNAL_reminder fired"])]
    assert names(book) == [], "a fired reminder is gone"
    assert await scheduler.tick() == 0 and len(rec.fired) == 1


async def test_entities_in_rasas_short_hand_and_none(book: DatabaseReminders) -> None:
    await book.schedule(CONVERSATION, event(name="a", entities={"plant": "Orchid"}))
    await book.schedule(CONVERSATION, event(name="b", entities=None))
    stored = {r.name: r.entities for r in book.pending(CONVERSATION)}
    assert stored == {"a": [{"entity": "plant", "value": "Orchid"}], "b": []}


def test_the_payload_that_fires_a_reminder_reads_back_as_its_intent_and_entities() -> None:
    entities = [{"entity": "person", "value": "Alice"}, {"entity": "day", "value": "Monday"},
                {"entity": "person", "value": "Bob"}]
    text = payload_text("EXTERNAL_reminder", entities)
    assert text == '/EXTERNAL_reminder{"person":["Alice","Bob"],"day":"Monday"}'
    payload = parse_payload(text)
    assert payload is not None and payload.intent == "EXTERNAL_reminder"
    assert sorted(payload.as_rasa(), key=json.dumps) == sorted(entities, key=json.dumps)
    assert payload_text("EXTERNAL_dry_plant", []) == "/EXTERNAL_dry_plant"


async def test_same_name_in_the_same_conversation_replaces(book: DatabaseReminders) -> None:
    soon, later = datetime.now(UTC) + timedelta(minutes=5), datetime.now(UTC) + timedelta(minutes=50)
    await book.schedule(CONVERSATION, event(name="call", at=soon, entities={"person": "Alice"}))
    await book.schedule(CONVERSATION, event(name="call", at=later, entities={"person": "Bob"}))
    await book.schedule("c2", event(name="call", at=soon))
    (kept,) = book.pending(CONVERSATION)
    assert kept.entities == [{"entity": "person", "value": "Bob"}]
    assert abs((kept.due_at - later).total_seconds()) < 0.001
    assert names(book, "c2") == ["call"], "another conversation's reminder of that name stays"
    await book.schedule(CONVERSATION, event(name=None))
    await book.schedule(CONVERSATION, event(name=None))
    assert len(names(book)) == 3, "unnamed reminders get a name of their own each, as in Rasa"


async def test_cancel_by_name_by_intent_with_entities_and_all(book: DatabaseReminders) -> None:
    await book.schedule(CONVERSATION, event("EXTERNAL_reminder", name="a", entities={"person": "Alice"}))
    await book.schedule(CONVERSATION, event("EXTERNAL_reminder", name="b", entities={"person": "Bob"}))
    await book.schedule(CONVERSATION, event("EXTERNAL_dry_plant", name="c"))
    await book.schedule(CONVERSATION, event("EXTERNAL_dry_plant", name="d"))
    await book.schedule("c2", event("EXTERNAL_reminder", name="a"))

    await book.cancel(CONVERSATION, cancel(name="a"))
    assert sorted(names(book)) == ["b", "c", "d"]
    await book.cancel(CONVERSATION, cancel(intent="EXTERNAL_reminder",
                                            entities=[{"entity": "person", "value": "Carla"}]))
    assert sorted(names(book)) == ["b", "c", "d"], "entities that differ cancel nothing"
    await book.cancel(CONVERSATION, cancel(intent="EXTERNAL_reminder", entities={"person": "Bob"}))
    assert sorted(names(book)) == ["c", "d"], "the same entities, in the other of Rasa's shapes"
    await book.cancel(CONVERSATION, cancel(intent="EXTERNAL_dry_plant", name="c"))
    assert names(book) == ["d"], "name and intent both must match"
    await book.schedule(CONVERSATION, event("EXTERNAL_reminder", name="e"))
    await book.cancel(CONVERSATION, cancel(intent="EXTERNAL_dry_plant"))
    assert names(book) == ["e"]
    await book.schedule(CONVERSATION, event("EXTERNAL_dry_plant", name="f"))
    await book.cancel(CONVERSATION, cancel())
    assert names(book) == [], "a cancel naming nothing cancels every reminder of the conversation"
    assert names(book, "c2") == ["a"], "and only of that conversation"


async def test_a_user_message_kills_the_reminders_booked_to_die_with_it(book: DatabaseReminders) -> None:
    port: ReminderBook = book  # as the responder holds it (mypy checks the protocol)
    await port.schedule(CONVERSATION, event(name="default"))  # no kill_on_user_msg: Rasa's True
    await port.schedule(CONVERSATION, event(name="killed", kill=True))
    await port.schedule(CONVERSATION, event(name="kept", kill=False))
    await port.schedule("c2", event(name="other", kill=True))
    await port.user_spoke(CONVERSATION)
    assert names(book) == ["kept"]
    assert names(book, "c2") == ["other"]
    await port.user_spoke("nobody")  # nothing booked: nothing to do


async def test_times_as_rasa_sdk_writes_them(book: DatabaseReminders) -> None:
    naive = datetime(2030, 1, 2, 3, 4, 5)
    assert due_time(naive.isoformat()) == naive.astimezone(UTC), "no zone: the server's local time"
    assert due_time("2030-01-02T03:04:05+02:00") == datetime(2030, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert due_time("2030-01-02T03:04:05Z") == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert due_time("next tuesday") is None and due_time(None) is None
    await book.schedule(CONVERSATION, {**event(name="z"), "date_time": "2030-01-02T03:04:05.123456+02:00"})
    (stored,) = book.pending(CONVERSATION)
    assert stored.due_at == datetime(2030, 1, 2, 1, 4, 5, 123456, tzinfo=UTC)


@pytest.mark.parametrize("bad", [
    {"date_time": "soon"},
    {"date_time": None},
    {"intent": None},
    {"intent": ""},
    {"intent": "greet{\"a\": 1}"},
    {"intent": "x" * 300},
    {"entities": "Alice"},
    {"entities": [{"value": "no entity name"}]},
    {"entities": {"note": "x" * 20_000}},
])
async def test_an_event_that_is_no_reminder_is_ignored(book: DatabaseReminders, bad: dict[str, Any]) -> None:
    await book.schedule(CONVERSATION, {**event(), **bad})
    assert names(book) == []


async def test_a_long_name_replaces_and_cancels_like_any_other(book: DatabaseReminders) -> None:
    long = "n" * 400
    await book.schedule(CONVERSATION, event(name=long, entities={"a": 1}))
    await book.schedule(CONVERSATION, event(name=long, entities={"a": 2}))
    assert len(names(book)) == 1
    await book.cancel(CONVERSATION, cancel(name=long))
    assert names(book) == []


async def test_a_conversation_books_at_most_its_limit(engine: Engine) -> None:
    book = DatabaseReminders(engine, max_per_conversation=3)
    for i in range(5):
        await book.schedule(CONVERSATION, event(name=f"r{i}"))
    assert names(book) == ["r0", "r1", "r2"]
    await book.schedule(CONVERSATION, event(name="r1", entities={"a": 1}))
    assert len(names(book)) == 3, "replacing one still works at the limit"


async def test_reminders_survive_a_restart(db_url: str) -> None:
    first = make_engine(db_url)
    metadata.create_all(first)
    await DatabaseReminders(first).schedule(CONVERSATION, event(at=datetime.now(UTC) + timedelta(seconds=0.3),
                                                                entities={"person": "Alice"}))
    first.dispose()  # the worker stops before the reminder is due

    again = make_engine(db_url)
    try:
        metadata.create_all(again)  # as start-up does: the table is there already
        rec = Recorder()
        scheduler = ReminderScheduler(DatabaseReminders(again), rec.fire, rec.deliver, poll_s=0.05)
        await scheduler.start()
        try:
            for _ in range(200):
                if rec.fired:
                    break
                await asyncio.sleep(0.02)
        finally:
            await scheduler.stop()
        assert rec.fired == [(CONVERSATION, "EXTERNAL_reminder", [{"entity": "person", "value": "Alice"}])]
        assert names(DatabaseReminders(again)) == []
    finally:
        again.dispose()


async def test_a_reminder_overdue_at_start_up_fires_once_unless_too_late(book: DatabaseReminders,
                                                                         clock: Clock) -> None:
    rec = Recorder()
    await book.schedule(CONVERSATION, event(name="late", at=clock.now - timedelta(hours=2)))
    await book.schedule(CONVERSATION, event(name="recent", at=clock.now - timedelta(seconds=30)))
    strict = ReminderScheduler(book, rec.fire, rec.deliver, misfire_grace_s=60)
    assert await strict.tick() == 1
    assert names(book) == [] and len(rec.fired) == 1, "two hours late is past the grace: dropped, not fired"
    await book.schedule(CONVERSATION, event(name="late", at=clock.now - timedelta(hours=2)))
    assert await ReminderScheduler(book, rec.fire, rec.deliver).tick() == 1, "no grace: fired however late"
    assert len(rec.fired) == 2


async def race(schedulers: list[ReminderScheduler], book: DatabaseReminders, rounds: int = 50) -> None:
    """Every scheduler polls at once, again and again, until nothing is left."""
    for _ in range(rounds):
        await asyncio.gather(*(s.tick() for s in schedulers))
        if not any(book.pending(f"c{i}") for i in range(8)):
            return
    raise AssertionError("reminders left unfired")


async def fired_once_across_workers(url: str) -> None:
    engines = [make_engine(url) for _ in range(3)]
    try:
        metadata.create_all(engines[0])
        books = [DatabaseReminders(e) for e in engines]
        rec = Recorder()
        workers = [ReminderScheduler(b, rec.fire, rec.deliver, worker=f"w{i}", batch=50)
                   for i, b in enumerate(books)]
        past = datetime.now(UTC) - timedelta(seconds=1)
        for i in range(40):
            await books[i % 3].schedule(f"c{i % 8}", event(name=f"r{i}", at=past, entities={"n": i}))
        await race(workers, books[0])
        fired = Counter(e[0]["value"] for _, _, e in rec.fired)
        assert fired == Counter(range(40)), f"each fired exactly once: {fired}"
        assert len(rec.delivered) == 40
    finally:
        for e in engines:
            e.dispose()


async def test_workers_over_one_sqlite_file_fire_each_reminder_once(db_url: str) -> None:
    await fired_once_across_workers(db_url)


@pytest.mark.postgres
async def test_workers_over_one_postgres_fire_each_reminder_once() -> None:
    from harness.pg import postgres

    with postgres() as pg:
        await fired_once_across_workers(pg.url)


async def test_a_claim_left_by_a_dead_worker_is_taken_over_after_its_lease(book: DatabaseReminders,
                                                                            clock: Clock) -> None:
    await book.schedule(CONVERSATION, event(at=clock.now - timedelta(seconds=1)))
    (left,) = book.due(clock.now, 60, 10)
    assert book.claim(left, "dead-worker", clock.now, 60) is not None  # then the worker died
    rec = Recorder()
    scheduler = ReminderScheduler(book, rec.fire, rec.deliver, lease_s=60)
    clock.now += timedelta(seconds=30)
    assert await scheduler.tick() == 0, "the lease holds"
    clock.now += timedelta(seconds=31)
    assert await scheduler.tick() == 1 and len(rec.fired) == 1
    assert names(book) == []


async def test_a_failed_firing_is_retried_after_the_lease_then_given_up(book: DatabaseReminders,
                                                                        clock: Clock) -> None:
    await book.schedule(CONVERSATION, event(name="flaky", at=clock.now))
    await book.schedule(CONVERSATION, event(name="broken", at=clock.now + timedelta(hours=1)))
    rec = Recorder(fail=1)
    scheduler = ReminderScheduler(book, rec.fire, rec.deliver, lease_s=10, max_attempts=2)
    assert await scheduler.tick() == 0 and names(book) == ["flaky", "broken"], "kept after a failure"
    clock.now += timedelta(seconds=11)
    assert await scheduler.tick() == 1 and names(book) == ["broken"], "retried once the lease ran out"
    rec.fail = 10
    clock.now += timedelta(hours=1)
    for _ in range(3):
        await scheduler.tick()
        clock.now += timedelta(seconds=11)
    assert names(book) == [] and len(rec.fired) == 1, "dropped after max_attempts failures"


async def test_a_dead_push_loses_no_reminder_and_fires_it_once(book: DatabaseReminders, clock: Clock) -> None:
    rec = Recorder()

    async def no_socket(conversation_id: str, messages: Any) -> None:
        raise ConnectionError("redis away")

    await book.schedule(CONVERSATION, event(at=clock.now))
    assert await ReminderScheduler(book, rec.fire, no_socket).tick() == 1
    assert names(book) == [] and len(rec.fired) == 1, "answered (and logged by the turn): not fired again"


async def test_stop_waits_for_the_reminder_being_fired(book: DatabaseReminders, clock: Clock) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    done: list[str] = []

    async def slow_fire(conversation_id: str, intent: str,
                        entities: list[dict[str, Any]]) -> list[BotMessage]:
        started.set()
        await release.wait()
        done.append(intent)
        return []

    async def deliver(conversation_id: str, messages: Any) -> None:
        raise AssertionError("nothing to deliver")

    await book.schedule(CONVERSATION, event(at=clock.now))
    scheduler = ReminderScheduler(book, slow_fire, deliver, poll_s=0.01)
    await scheduler.start()
    await asyncio.wait_for(started.wait(), 5)
    stopping = asyncio.create_task(scheduler.stop(grace_s=5))
    await asyncio.sleep(0.05)
    assert not stopping.done()
    release.set()
    await asyncio.wait_for(stopping, 5)
    assert done == ["EXTERNAL_reminder"] and names(book) == []
    await scheduler.stop()  # idempotent


def test_the_poll_is_one_indexed_query(engine: Engine) -> None:
    sql = str(due_query(datetime.now(UTC), 60, 20).compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        plan = " ".join(str(r) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert "USING INDEX ix_rasa_reminders_due_at" in plan, plan


# ------------------------------------------------------------------ end to end through the app

REMINDERBOT = Path(__file__).resolve().parents[2] / "fixtures" / "rasa" / "reminderbot"


@pytest.fixture(scope="module")
def reminder_var(built_var: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.bot.rasa.test_rasa_rest import project_var

    return project_var(built_var, tmp_path_factory.mktemp("reminderbot") / "var", REMINDERBOT)


@pytest.mark.slow
async def test_reminderbot_schedules_fires_and_cancels_over_socketio(
    aiohttp_server: Any, reminder_var: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aiohttp

    from bot.channels.ids import pseudonym_key
    from bot.engine.state_backup import state_key
    from core.settings import REPO_ROOT, Settings
    from tests.bot.channels.test_socketio import Shopper, start_shop
    from tests.identity import IDENTITY_ENV

    monkeypatch.setenv("SHOPBOT_TEST_REMINDER_API_TOKEN", "reminder-api-token")
    database = tmp_path / "turns.db"
    settings = Settings(var_dir=reminder_var, rasa_project=REMINDERBOT, database_url=f"sqlite:///{database}",
                        web_dir=REPO_ROOT / "web", journal_dir=tmp_path / "journal",
                        identity_secret_env=IDENTITY_ENV,
                        rasa_api_token_env="SHOPBOT_TEST_REMINDER_API_TOKEN")
    key = state_key(pseudonym_key(settings.secret(settings.pseudonym_secret_env), settings.var_dir))
    shop = await start_shop(aiohttp_server, settings)
    async with Shopper(shop.url) as shopper:
        session = await shopper.session(None)
        # Typed: the person comes from the trained entity extractor (an unseen name).
        said, _ = await shopper.say(session, "please remind me to call Oliver")
        assert [m["text"] for m in said] == ["I will remind you in 3 seconds."]
        engine = make_engine(f"sqlite:///{database}")
        try:
            with engine.connect() as conn:
                stored = [str(r.entities) for r in conn.execute(reminders.select())]
            assert stored and not any("Oliver" in e for e in stored), "entities encrypted at rest"
        finally:
            engine.dispose()
        told, _ = await shopper.say(session, "/ask_id")
        assert told[0]["text"] == f"This conversation is '{session}'."
        # kill_on_user_message=False: the message since does not cancel it; it arrives on its own.
        fired = await shopper.arrived("bot_uttered", lambda m: m.get("text") == "Time to call Oliver!",
                                      timeout_s=20)
        assert fired["metadata"]["sender"] == "bot"

        await shopper.say(session, '/remind_me{"person": "Bob"}')
        book = DatabaseReminders(make_engine(f"sqlite:///{database}"), key=key)
        try:
            assert [r.entities for r in book.pending(session)] == [[{"entity": "person", "value": "Bob"}]]
            said, _ = await shopper.say(session, "/forget_reminders")
            assert [m["text"] for m in said] == ["Done: no more reminders."]
            assert book.pending(session) == [], "ReminderCancelled() cancelled it"
        finally:
            book.engine.dispose()
        # An outside system triggers an intent in the conversation (Rasa's HTTP API).
        async with aiohttp.ClientSession() as http, http.post(
            f"{shop.url}/conversations/{session}/trigger_intent", params={"token": "reminder-api-token"},
            json={"name": "EXTERNAL_back_in_stock", "entities": {"product": "teapot"}},
        ) as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
        assert [m["text"] for m in body["messages"]] == ["Good news: the teapot is back in stock!"]
        assert body["tracker"]["sender_id"] == session
