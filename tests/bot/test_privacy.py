"""Personal data never stored in clear: every case a tester tried, through the real channel."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.auth.guard import Role
from bot.handoff.store import handoffs
from bot.serving.turnlog import SINK
from bot.web.keys import ENGINE, SETTINGS
from monitoring.turnlog import TurnLog, turns
from monitoring.turnlog.reviews import reviews
from retrieval.corrections import changes
from tests.signin import sign_in
from tests.turns import turn

# (message, the personal data in it that must not be stored)
CASES = [
    ("write to jane dot doe at gmail dot com", "jane"),
    ("my email is jane[at]gmail[dot]com", "jane"),
    ("email jane (at) example (dot) co (dot) uk", "jane"),
    ("it's jane @ gmail.com", "jane"),
    ("reach me at jane＠gmail．com", "jane"),
    ("card 4111.1111.1111.1111 please", "4111"),
    ("card 4111/1111/1111/1111 please", "4111"),
    ("IBAN GB82 WEST 1234 5698 7654 32", "5698"),
    ("sort code 20-00-00, account 12345678", "12345678"),
    ("deliver to SW1A 1AA", "SW1A"),
    ("I live at 42 Wallaby Way, Sydney", "Wallaby"),
    ("Flat 4, 10 Downing Street", "Downing"),
    ("my NI number is QQ 12 34 56 C", "QQ 12"),
    ("I was born on 14/07/1985", "1985"),
    ("my date of birth is 3rd March 1979", "1979"),
    ("call me on +44.20.7946.0958", "7946"),
    ("my mobile 07700 900123", "900123"),
    ("ring +1 (415) 555-2671 after six", "555"),
]

# Issue 29: what outside testers still found in clear (message, what must not be kept of it).
ISSUE_29 = [
    ("my card is 4111  1111  1111  1111", "1111"),
    ("my card is 4111_1111_1111_1111", "1111"),
    ("call me on 555-2671", "2671"),
    ("send it to 10 Rue de Rivoli, Paris", "Rivoli"),
    ("I live at Rose Cottage, Church Lane", "Church Lane"),
    ("I was born in 1985", "1985"),
    ("my name is Sarah Jones", "Jones"),
    # (not "Tom": "customer" holds it)
    ("I'm Tomasz, where is my order?", "Tomasz"),
    ("name: priya patel", "priya"),
    ("hi i'm jamie and I want a refund", "jamie"),
    ("It's Mohammed here, any news?", "Mohammed"),
    ("Name: Anna Kowalski", "Kowalski"),
]


# Columns the server makes up itself: random ids (uuid4 hex) and model version hashes. They can
# hold any run of digits ("1979" in turn id 1979bd05..., a real failure) and no shopper text.
MACHINE_MADE = frozenset({"turn_id", "id", "versions"})


def _stored_text(client: TestClient, table: Any) -> str:
    with client.app[ENGINE].connect() as conn:
        rows = conn.execute(select(table)).mappings().all()
    kept = [{k: v for k, v in dict(r).items() if k not in MACHINE_MADE} for r in rows]
    return json.dumps([_without_timings(r) for r in kept], default=str, ensure_ascii=False)


def _without_timings(value: Any) -> Any:
    # Measured floats (latencies, scores) and clock times (microseconds) can hold any run of
    # digits, e.g. "555" in 9.115558 ms; what a shopper typed is stored as text, so the check
    # reads every string and integer.
    if isinstance(value, float):
        return 0.0
    if isinstance(value, datetime):
        return ""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_timings(v) for v in value]
    return value


async def _say(client: TestClient, sender: str, text: str, **metadata: Any) -> list[dict[str, Any]]:
    resp = await client.post("/webhooks/rest/webhook",
                             json={"sender": sender, "message": text, "metadata": metadata})
    assert resp.status == 200, await resp.text()
    return list(await resp.json())


async def test_every_case_is_stored_redacted(client: TestClient) -> None:
    # One app for every case (an app per case cost a minute of CI); each case in its own
    # conversation, so each turn row is checked on its own.
    cases = CASES + ISSUE_29
    for i, (message, _) in enumerate(cases):
        assert await _say(client, f"privacy-case-{i}", message), "the shopper is still answered"
    await client.app[SINK].flush()
    with client.app[ENGINE].connect() as conn:
        rows = {r["conversation_id"]: r for r in conn.execute(select(turns)).mappings().all()}
    missed = []
    for i, (message, secret) in enumerate(cases):
        kept = {k: v for k, v in dict(rows[f"privacy-case-{i}"]).items() if k not in MACHINE_MADE}
        stored = json.dumps(_without_timings(kept), default=str, ensure_ascii=False)
        if secret.lower() in stored.lower() or "pii_redacted" not in stored:
            missed.append(message)
    assert missed == [], f"stored in clear (or not flagged): {missed}"


async def test_a_number_inside_a_phone_number_is_not_an_order_number(client: TestClient) -> None:
    answer = await _say(client, "phone-not-order", "my mobile 07700 900123")
    assert all("900123" not in (m.get("text") or "") for m in answer), "not read as order 900123"
    await client.app[SINK].flush()
    assert "900123" not in _stored_text(client, turns)


async def test_an_email_as_the_conversation_id_is_stored_as_a_pseudonym(client: TestClient) -> None:
    sender = "jane.doe@example.com"
    first = await _say(client, sender, "how long does delivery take?")
    assert first[0]["recipient_id"] == sender, "the client gets its own id back"
    await _say(client, sender, "and to Germany?")
    await client.app[SINK].flush()
    stored = _stored_text(client, turns)
    assert "jane" not in stored
    with client.app[ENGINE].connect() as conn:
        ids = {r.conversation_id for r in conn.execute(select(turns.c.conversation_id))}
    assert len(ids) == 1 and next(iter(ids)).startswith("anon-"), "one stable pseudonym"


async def test_metadata_keys_values_and_bot_replies_are_redacted(client: TestClient) -> None:
    await _say(client, "meta", "recommend something", note="call 07700 900123",
               **{"jane@example.com": "key holds an address"})
    await _say(client, "meta", "my email is jane@example.com, can you confirm it?")
    await client.app[SINK].flush()
    stored = _stored_text(client, turns)
    assert "07700" not in stored and "jane" not in stored


async def test_handoffs_and_staff_messages_are_redacted(client: TestClient) -> None:
    await _say(client, "to-person", "I want to talk to a person, I'm jane@example.com on 07700 900123")
    await client.app[SINK].flush()
    queue = _stored_text(client, handoffs)
    assert "jane" not in queue and "07700" not in queue and "[EMAIL]" in queue


# The shop's own address, in data/faq.yml's contact answer: public, not personal.
SHOP_EMAIL = "hello@shopbot-demo.example"


async def test_the_review_view_keeps_the_shops_own_address_and_redacts_a_shoppers(client: TestClient) -> None:
    # A reply holding a shopper's address can only have been logged before replies were redacted
    # on the way in; the review view redacts again, with the same redactor as the record factory.
    reply = f"Email {SHOP_EMAIL} and we write back to jane@example.com"
    TurnLog(client.app[ENGINE]).write([turn("shop-mail", 0, text="how can I contact you?", reply=reply)])
    shown = f"Email {SHOP_EMAIL} and we write back to [EMAIL]"
    headers = await sign_in(client, client.app, "ada", Role.AUDITOR)

    resp = await client.get("/api/turns/shop-mail", headers=headers)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["turn"]["response"][0]["text"] == shown
    listed = await (await client.get("/api/turns", headers=headers)).json()
    assert [t["response"][0]["text"] for t in listed["items"]] == [shown]
    exported = await (await client.get("/api/turns/export", headers=headers)).text()
    assert SHOP_EMAIL in exported and "jane" not in exported

    resp = await client.post("/api/turns/shop-mail/review", headers=headers,
                             json={"verdict": "incorrect", "correction": f"Say: email {SHOP_EMAIL}",
                                   "note": "jane@example.com is the shopper's"})
    assert resp.status == 201, await resp.text()
    review = await resp.json()
    assert review["correction"] == f"Say: email {SHOP_EMAIL}", "a correction may name the shop's address"
    assert review["note"] == "[EMAIL] is the shopper's"


def _journal_text(client: TestClient) -> str:
    """Every journal file's text; its records without machine-made ids and timings (as the tables'
    check reads them: a uuid or a latency may hold any run of digits)."""
    root = client.app[SETTINGS].journal_path
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    out = []
    for line in "".join(p.read_bytes().decode("utf-8", "replace") for p in files).splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            out.append(line)  # not a record (a lock file, a quarantined line): checked as it is
            continue
        if isinstance(row, dict):
            row = _without_timings({k: v for k, v in row.items() if k not in MACHINE_MADE})
            row.pop("ts", None)
        out.append(json.dumps(row, default=str, ensure_ascii=False))
    return "\n".join(out)


async def test_issue_29_inputs_are_nowhere_in_clear(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Every input through a real turn (and a handoff, a review, a knowledge change): no table,
    no journal file and no log line holds any of them; product names are kept as typed."""
    caplog.set_level(logging.DEBUG)
    headers = await sign_in(client, client.app, "ada", Role.AUDITOR)
    for i, (message, _) in enumerate(ISSUE_29):
        await _say(client, f"issue29-{i}", message)
    # To a person: the handoff queue keeps the last message.
    await _say(client, "issue29-person", "I want to talk to a person, my name is Sarah Jones, card "
                                         "4111_1111_1111_1111, I live at Rose Cottage, Church Lane")
    resp = await client.post("/webhooks/rest/webhook", json={
        "sender": "issue29-turn", "message": "do you have the Dolly Girl lunch box?"})
    turn_id = resp.headers["X-Shopbot-Turn-Id"]
    await client.app[SINK].flush()
    review = await client.post(f"/api/turns/{turn_id}/review", headers=headers, json={
        "verdict": "incorrect", "correction": "Yes, the Dolly Girl lunch box is in stock.",
        "note": "shopper is Sarah Jones, 555-2671, born in 1985"})
    assert review.status == 201, await review.text()
    promoted = await client.post(f"/api/turns/{turn_id}/promote", json={}, headers=headers)
    assert promoted.status == 201, await promoted.text()
    await client.app[SINK].flush()

    stored = "".join(_stored_text(client, table) for table in (turns, handoffs, reviews, changes))
    journal = _journal_text(client)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert journal, "the journal was written"
    for _, secret in [*ISSUE_29, ("", "Sarah"), ("", "4111")]:
        for where, text in (("database", stored), ("journal", journal), ("logs", logged)):
            assert secret.lower() not in text.lower(), f"{secret!r} in clear in the {where}"
    assert "Dolly Girl lunch box" in stored, "product names are kept"


@pytest.mark.parametrize(("answer", "kind"), [
    ("Write to jane.doe@example.com for help", "e-mail"),
    ("Call our Tom on 07700 900123", "phone"),
    ("Pay with card 4111 1111 1111 1111", "card"),
    ("Email [EMAIL] for help", "email"),
])
async def test_a_promoted_answer_with_personal_data_is_refused(
    client: TestClient, answer: str, kind: str
) -> None:
    headers = await sign_in(client, client.app, "ada", Role.AUDITOR)
    resp = await client.post("/webhooks/rest/webhook",
                             json={"sender": "promote-pii", "message": "do you gift wrap?"})
    turn_id = resp.headers["X-Shopbot-Turn-Id"]
    await client.app[SINK].flush()
    refused = await client.post(f"/api/turns/{turn_id}/promote", json={"answer": answer}, headers=headers)
    assert refused.status == 400
    error = (await refused.json())["error"]
    assert error["code"] == "personal_data" and "personal data" in error["message"]
    assert kind.replace("-", "") in error["message"].replace("-", "")
    assert "jane" not in _stored_text(client, changes) and "4111" not in _stored_text(client, changes)
    # The shop's own public details are allowed.
    allowed = await client.post(f"/api/turns/{turn_id}/promote", headers=headers,
                                json={"answer": f"Email {SHOP_EMAIL} and we will wrap it"})
    assert allowed.status == 201, await allowed.text()
