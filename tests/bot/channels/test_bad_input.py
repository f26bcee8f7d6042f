"""Bad input gets a clear 4xx JSON error and the server keeps serving."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

URL = "/webhooks/rest/webhook"
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"", 400, "bad_request"),
        (b"not json", 400, "bad_request"),
        (b"[1, 2]", 400, "bad_request"),
        (b'{"sender": "a"}', 400, "bad_request"),
        (b'{"sender": 5, "message": "hi"}', 400, "bad_request"),
        (b'{"sender": "a", "message": ["hi"]}', 400, "bad_request"),
        (b'{"sender": "a", "message": "hi", "metadata": "x"}', 400, "bad_request"),
        (b'{"sender": "", "message": "hi"}', 400, "bad_request"),
        (b'{"sender": "a", "message": "   "}', 400, "bad_request"),
        (b'{"sender": "a", "message": "\xff\xfe"}', 400, "bad_request"),
        (b'{"sender": "a", "message": "' + b"x" * 3000 + b'"}', 413, "payload_too_large"),
        (b'{"sender": "a", "message": "' + b"x" * 70_000 + b'"}', 413, "payload_too_large"),
    ],
)
async def test_rejected_with_json_error(client: TestClient, body: bytes, status: int, code: str) -> None:
    resp = await client.post(URL, data=body, headers=JSON)
    assert resp.status == status
    error = (await resp.json())["error"]
    assert error["code"] == code and error["message"]
    ok = await client.post(URL, json={"sender": "after", "message": "do you sell candles?"})
    assert ok.status == 200, "the server keeps serving"


async def test_unknown_path_and_method(client: TestClient) -> None:
    resp = await client.get("/nope")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    resp = await client.get(URL)
    assert resp.status == 405


async def test_hostile_text_is_just_text(client: TestClient) -> None:
    text = "<script>alert(1)</script> '; DROP TABLE turns; --"
    resp = await client.post(URL, json={"sender": "h", "message": text})
    assert resp.status == 200
    token = {"X-Shopbot-Conversation-Token": resp.headers["X-Shopbot-Conversation-Token"]}
    again = await client.post(URL, json={"sender": "h", "message": "how do I return an item?"}, headers=token)
    assert again.status == 200, "the turn table survived"


async def test_cors_preflight_for_embedded_widget(client: TestClient) -> None:
    resp = await client.options(
        URL, headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    )
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Shopbot-Turn-Id" in resp.headers["Access-Control-Expose-Headers"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"sender": "a", "message": "hi", "metadata": ' + b"[" * 990 + b"]" * 990 + b"}",
        b'{"sender": "a", "message": "hi", "metadata": {"n": ' + b"9" * 5000 + b"}}",
        b'{"sender": "a", "message": "hi", "metadata": {"n": NaN}}',
        b'{"sender": "a\\u0000b", "message": "hi"}',
        b'{"sender": "a\\ud800", "message": "hi"}',
        b'{"sender": "' + b"a" * 129 + b'", "message": "hi"}',
    ],
)
async def test_hostile_json_is_a_400_not_a_500(client: TestClient, body: bytes) -> None:
    resp = await client.post(URL, data=body, headers=JSON)
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["error"]["code"] == "bad_request"


async def test_lone_surrogates_and_nul_in_text_are_answered_and_stored_cleanly(client: TestClient) -> None:
    body = b'{"sender": "s", "message": "do you sell \\ud800 candles?\\u0000", "metadata": {"k\\udfff": "v"}}'
    resp = await client.post(URL, data=body, headers=JSON)
    assert resp.status == 200
    from bot.serving.turnlog import SINK

    sink = client.app[SINK]
    await sink.flush()
    (record,) = await sink.run_sync(lambda: list(sink.turn_log.records("s")))
    assert "\ufffd" in record.user_text and "\x00" not in record.user_text


@pytest.mark.parametrize(
    "path",
    ["/api/knowledge/changes/" + "9" * 40 + "/undo", "/api/knowledge/changes/-1/undo",
     "/api/handoffs/../../etc/passwd/claim", "/api/handoffs/" + "f" * 33 + "/claim"],
)
async def test_malformed_path_ids_are_404s(client: TestClient, path: str) -> None:
    from bot.auth.guard import Role
    from tests.signin import sign_in

    cookie = await sign_in(client, client.app, f"admin{abs(hash(path)) % 10_000}", Role.ADMIN)
    resp = await client.post(path, headers=cookie)
    assert resp.status == 404
