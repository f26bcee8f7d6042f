"""A shopper writing in another language over REST: a reply in it, the language in the log, no
escalation as a failure, and the language in the staff API when they ask for a person."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from bot.auth.guard import Role
from bot.engine import replies
from bot.serving.turnlog import SINK
from core.settings import Settings
from core.turns import Flag, TurnRecord
from tests.bot.handoff.conftest import Login
from tests.bot.handoff.test_handoff_rest import queue

WEBHOOK = "/webhooks/rest/webhook"
GERMAN = "Liefern Sie nach Deutschland?"


async def say(client: TestClient, sender: str, text: str) -> list[dict[str, Any]]:
    resp = await client.post(WEBHOOK, json={"sender": sender, "message": text})
    assert resp.status == 200, await resp.text()
    return list(await resp.json())


async def logged(client: TestClient, conversation_id: str) -> list[TurnRecord]:
    sink = client.app[SINK]
    await sink.flush()
    records = await sink.run_sync(lambda: list(sink.turn_log.records()))
    return sorted((r for r in records if r.conversation_id == conversation_id), key=lambda r: r.ts)


async def test_a_german_question_gets_a_german_reply_not_a_failed_escalation(
    client: TestClient, login: Login, shop_settings: Settings
) -> None:
    staff = await login("sam", Role.STAFF)
    german = replies.other_language("de").to_rest("kunde")
    assert german["buttons"] == [{"title": "Mit einem Menschen sprechen", "payload": "/handoff"}]
    # More times than the unanswered turns that escalate (each of them used to be declined).
    times = shop_settings.escalate_after_unanswered + 1
    for _ in range(times):
        assert await say(client, "kunde", GERMAN) == [german]
    assert await queue(client, staff, "pending") == [], "not escalated as a failure"

    turns = await logged(client, "kunde")
    assert [t.metadata["language"] for t in turns] == ["de"] * times
    assert {t.metadata["label"] for t in turns} == {"other_language"}
    for turn in turns:
        assert not turn.flags & {Flag.DECLINED, Flag.LOW_CONFIDENCE, Flag.ESCALATED}, turn.flags

    # The person the reply offers: its button's payload queues the conversation, in German.
    queued = await say(client, "kunde", "/handoff")
    assert "queue" in queued[0]["text"]
    (handoff,) = await queue(client, staff, "pending")
    assert (handoff["conversation_id"], handoff["reason"]) == ("kunde", "requested")
    assert handoff["language"] == "de"
    transcript = await (await client.get("/api/conversations/kunde", headers=staff)).json()
    assert [t["language"] for t in transcript["turns"]] == ["de"] * times + ["en"]
    # Resolved conversations are not read for the queue (their transcripts still say it).
    assert (await client.post(f"/api/handoffs/{handoff['id']}/resolve", headers=staff)).status == 200
    (done,) = await queue(client, staff, "resolved")
    assert (done["id"], done["language"]) == (handoff["id"], None)


async def test_english_turns_are_logged_as_english(client: TestClient, login: Login) -> None:
    staff = await login("sam", Role.STAFF)
    answer = await say(client, "shopper", "how long does UK delivery take?")
    assert "working days" in answer[0]["text"]
    await say(client, "shopper", "I want to talk to a person")
    assert [t.metadata["language"] for t in await logged(client, "shopper")] == ["en", "en"]
    (handoff,) = await queue(client, staff, "pending")
    assert handoff["language"] is None, "no language shown for English"
