"""``GET /api/drift`` on the real app: hourly rates, the live baseline, unfamiliar examples to promote."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from bot.auth.guard import Role
from bot.web.keys import METRICS
from tests.monitoring.drift_streams import OFF_TOPIC, on_topic
from tests.signin import sign_in


async def _ask(client: TestClient, messages: list[str], prefix: str) -> None:
    # One conversation each: three declines in a row would hand a conversation to a person.
    for i, text in enumerate(messages):
        resp = await client.post("/webhooks/rest/webhook", json={"sender": f"{prefix}-{i}", "message": text})
        assert resp.status == 200


async def test_drift_report_names_unfamiliar_messages_against_the_baseline(client: TestClient) -> None:
    headers = await sign_in(client, client.app, "ada", Role.AUDITOR)
    familiar = on_topic()[:20]
    strange = [*OFF_TOPIC[:20], "my email is jo.bloggs@example.com, will it snow in Oslo"]
    await _ask(client, familiar, "on")
    await _ask(client, strange, "off")
    # The "Talk to a person" button: its payload is far from every phrasing (cosine 0.29), but
    # it is not the shopper's wording.
    button = "/handoff"
    await _ask(client, [button], "button")
    baseline = {"decline_rate": 0.05, "unfamiliar_share": 0.04, "low_confidence_share": 0.1}
    client.app[METRICS].set_model_baseline("router", baseline)

    resp = await client.get("/api/drift", headers=headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert len(body["hours"]) == 24
    assert body["baseline"] == baseline
    assert body["unfamiliar_threshold"] == 0.4
    assert body["review"] == {"console": "/review", "turns": "/api/turns?flag=unfamiliar"}
    total = body["total"]
    assert total["turns"] == sum(h["turns"] for h in body["hours"]) == len(familiar) + len(strange) + 1
    assert body["hours"][-1]["end"] == body["until"] and body["hours"][0]["start"] == body["since"]
    # Most off-topic messages are far from every known phrasing; none of the FAQ's own is.
    unfamiliar = round(total["unfamiliar_share"] * total["turns"])
    assert len(strange) // 2 <= unfamiliar <= len(strange)
    assert 0.15 < total["decline_rate"] <= len(strange) / total["turns"]
    assert 0 < total["mean_confidence"] < 1
    flagged = await (await client.get("/api/turns?flag=unfamiliar&limit=100", headers=headers)).json()
    assert len(flagged["items"]) == unfamiliar
    assert not {t["user_text"] for t in flagged["items"]} & {*familiar, button}

    examples = body["examples"]
    assert 1 <= len(examples) <= 10
    assert {e["user_text"] for e in examples} <= {*strange[:-1], "my email is [EMAIL], will it snow in Oslo"}
    assert all(e["nearest_phrasing"] < 0.4 for e in examples)
    assert [e["ts"] for e in examples] == sorted((e["ts"] for e in examples), reverse=True)
    # Each example opens in the review API, flagged, and is listed by the console's flag filter.
    first = examples[0]
    detail = await (await client.get(first["detail"], headers=headers)).json()
    assert "unfamiliar" in detail["turn"]["flags"]
    assert first["promote"] == f"/api/turns/{first['turn_id']}/promote"
    assert [t["turn_id"] for t in flagged["items"][:10]] == [e["turn_id"] for e in examples]

    one = await (await client.get("/api/drift?hours=1", headers=headers)).json()
    assert len(one["hours"]) == 1 and one["hours"][0]["turns"] <= total["turns"]


async def test_drift_refuses_bad_hours_and_other_roles(client: TestClient) -> None:
    assert (await client.get("/api/drift")).status == 401
    staff = await sign_in(client, client.app, "sam", Role.STAFF)
    assert (await client.get("/api/drift", headers=staff)).status == 403
    auditor = await sign_in(client, client.app, "ada", Role.AUDITOR)
    for query in ("hours=0", "hours=169", "hours=abc", "hours=-1", "hours=2&hours=3", "days=2"):
        resp = await client.get(f"/api/drift?{query}", headers=auditor)
        assert resp.status == 400, query
        assert (await resp.json())["error"]["code"] == "bad_request", query
    resp = await client.get("/api/drift?hours=168", headers=auditor)
    assert resp.status == 200
    body = await resp.json()
    assert len(body["hours"]) == 168 and body["examples"] == [] and body["baseline"] == {}
    doc = await (await client.get("/api/openapi.json", headers=auditor)).json()
    op = doc["paths"]["/api/drift"]["get"]
    assert set(op["x-shopbot-roles"]) == {"auditor", "admin"}
    assert [p["name"] for p in op["parameters"]] == ["hours"]
