"""Promote: an auditor's correction reaches the live bot in seconds, versioned and undoable."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from bot.auth.guard import Role
from bot.serving.turnlog import SINK
from bot.web.keys import ENGINE, SETTINGS
from retrieval.knowledge_base import answered_entries
from tests.signin import sign_in

QUESTION = "is the glass cookie jar good for storing biscuits?"
CORRECTION = "Our glass cookie jars are airtight, so biscuits stay crisp for weeks."


async def auditor(client: TestClient, name: str = "ada", role: Role = Role.AUDITOR) -> dict[str, str]:
    return await sign_in(client, client.app, name, role)


async def ask(client: TestClient, sender: str, text: str) -> tuple[str, list[dict[str, Any]]]:
    resp = await client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
    assert resp.status == 200
    return resp.headers["X-Shopbot-Turn-Id"], list(await resp.json())


async def test_promoted_correction_answers_at_once_and_undo_withdraws_it(client: TestClient) -> None:
    headers = await auditor(client)
    turn_id, before = await ask(client, "s1", QUESTION)
    assert before[0]["text"] != CORRECTION
    await client.app[SINK].flush()
    reviewed = await client.post(f"/api/turns/{turn_id}/review", headers=headers,
                                 json={"verdict": "incorrect", "correction": CORRECTION})
    assert reviewed.status == 201

    promoted = await client.post(f"/api/turns/{turn_id}/promote", json={}, headers=headers)
    assert promoted.status == 201, await promoted.text()
    change = await promoted.json()
    assert (change["kind"], change["answer"], change["question"]) == ("new_entry", CORRECTION, QUESTION)
    assert change["entry_id"].startswith("promoted_") and change["created_by"] == "ada"

    new_turn, after = await ask(client, "s2", QUESTION)
    assert after[0]["text"] == CORRECTION, "the very next shopper gets the correction"
    await client.app[SINK].flush()
    detail = await (await client.get(f"/api/turns/{new_turn}", headers=headers)).json()
    assert detail["turn"]["route"] == "faq"

    entries = (await (await client.get("/api/knowledge/entries", headers=headers)).json())["entries"]
    assert any(e["id"] == change["entry_id"] and e["answer"] == CORRECTION for e in entries)
    settings = client.app[SETTINGS]
    answered = answered_entries(client.app[ENGINE], settings.faq_path, settings.intents_path)
    trained_on = {e.id: e for e in answered}
    assert QUESTION in trained_on[change["entry_id"]].questions, "shopbot train learns it too"

    undone = await client.post(f"/api/knowledge/changes/{change['id']}/undo", headers=headers)
    assert undone.status == 200 and (await undone.json())["active"] is False
    assert (await client.post(f"/api/knowledge/changes/{change['id']}/undo", headers=headers)).status == 409
    _, reverted = await ask(client, "s3", QUESTION)
    assert reverted[0]["text"] != CORRECTION
    listed = (await (await client.get("/api/knowledge/changes", headers=headers)).json())["changes"]
    assert [(c["id"], c["active"], c["undone_by"]) for c in listed] == [(change["id"], False, "ada")]


async def test_promote_as_a_phrasing_of_an_existing_entry(client: TestClient) -> None:
    headers = await auditor(client)
    text = "how many days until my parcel turns up in Leeds"
    turn_id, _ = await ask(client, "s4", text)
    await client.app[SINK].flush()
    body = {"entry_id": "uk_delivery"}
    resp = await client.post(f"/api/turns/{turn_id}/promote", json=body, headers=headers)
    assert resp.status == 201 and (await resp.json())["kind"] == "new_phrasing"
    _, answer = await ask(client, "s5", text)
    listing = await (await client.get("/api/knowledge/entries", headers=headers)).json()
    uk = next(e for e in listing["entries"] if e["id"] == "uk_delivery")
    assert answer[0]["text"] == uk["answer"]


async def test_promote_refuses_what_it_cannot_do(client: TestClient) -> None:
    headers = await auditor(client)
    turn_id, _ = await ask(client, "s6", QUESTION)
    await client.app[SINK].flush()
    no_answer = await client.post(f"/api/turns/{turn_id}/promote", json={}, headers=headers)
    assert no_answer.status == 400, "a new entry needs an answer or a reviewed correction"
    unknown = await client.post(f"/api/turns/{turn_id}/promote", json={"entry_id": "nope"}, headers=headers)
    assert unknown.status == 404
    assert (await client.post("/api/turns/missing/promote", json={}, headers=headers)).status == 404
    bad = await client.post(f"/api/turns/{turn_id}/promote", json={"answer": ""}, headers=headers)
    assert bad.status == 400
    staff = await auditor(client, "sam", Role.STAFF)
    assert (await client.post(f"/api/turns/{turn_id}/promote", json={}, headers=staff)).status == 403
    assert (await client.post("/api/knowledge/changes/x/undo", headers=headers)).status == 404


async def test_promote_without_a_body_is_like_an_empty_object(client: TestClient) -> None:
    headers = await auditor(client)
    turn_id, _ = await ask(client, "s5", QUESTION)
    await client.app[SINK].flush()
    await client.post(f"/api/turns/{turn_id}/review", headers=headers,
                      json={"verdict": "incorrect", "correction": CORRECTION})
    promoted = await client.post(f"/api/turns/{turn_id}/promote", headers=headers)
    assert promoted.status == 201, await promoted.text()
    assert (await promoted.json())["answer"] == CORRECTION
    spec = await (await client.get("/api/openapi.json", headers=headers)).json()
    body = spec["paths"]["/api/turns/{turn_id}/promote"]["post"]["requestBody"]
    assert body["required"] is False
