"""Generation never ships an unverified claim: over REST, a draft is verified or withheld."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.generation.service import Generation
from bot.generation.verifier import read_passage, verify
from bot.server import create_app
from bot.serving.turnlog import SINK
from bot.web.keys import ENGINE
from core.settings import Settings
from monitoring.turnlog import turns

URL = "/webhooks/rest/webhook"
# The README's demo question (docs table "generate"), and as issue 26 asked it.
DEMO = ("is the glass cookie jar good for storing biscuits?", "is the glass cookie jar good for biscuits?")
NOT_SURE = "I'm not sure about that, so I won't guess."


async def _ask(client: TestClient, sender: str, text: str) -> list[dict[str, Any]]:
    resp = await client.post(URL, json={"sender": sender, "message": text})
    assert resp.status == 200
    return list(await resp.json())


async def _logged(client: TestClient, sender: str) -> Any:
    await client.app[SINK].flush()
    with client.app[ENGINE].connect() as conn:
        rows = conn.execute(select(turns.c.route, turns.c.flags, turns.c.meta)
                            .where(turns.c.conversation_id == sender)).all()
    assert len(rows) == 1
    return rows[0]


def _assert_withheld(body: list[dict[str, Any]], passages: list[str]) -> None:
    """The honest reply: not sure, a person to ask, and the cards of the products found."""
    assert body[0]["text"].startswith(NOT_SURE)
    assert body[0]["buttons"] == [{"title": "Ask a person", "payload": "/handoff"}]
    shown = [card["name"] for card in body[1]["custom"]["products"]]
    assert shown == [read_passage(p).name for p in passages] and shown


async def test_the_demo_question_never_gets_a_draft_the_verifier_refuses(client: TestClient) -> None:
    for i, question in enumerate(DEMO):
        body = await _ask(client, f"demo-{i}", question)
        route, flags, meta = await _logged(client, f"demo-{i}")
        assert route == "generate" and "generated" in flags
        passages = meta["evidence"]
        assert len(passages) > 1  # GPT-2 on the top product passages, not a named product's facts
        if body[0]["text"].startswith(NOT_SURE):
            _assert_withheld(body, passages)
            assert "ungrounded" in flags and meta["grounding"] == 0.0
        else:
            assert [m.get("text") for m in body] == [body[0]["text"]]
            assert verify(body[0]["text"], passages, question).verified
            assert "ungrounded" not in flags


def _price_sentence(passage: str) -> str:
    """The price fact of a passage's product, worded as ``Product.fact_sentences`` words it."""
    price = re.search(r"Price (£\d+\.\d\d)\.", passage)
    assert price is not None
    return f"The {read_passage(passage).name} costs {price[1]}."


class Replays:
    """Stands in for GPT-2: writes what the shop's GPT-2 wrote in issue 26, or words the top
    passage's price exactly when ``honest`` (a GPT-2 that only copies facts)."""

    version = "issue-26"
    WROTE = {"how much is that first clock?": "The White is black.",
             "no, I meant blue": "The Blue is sold singly; shoppers usually buy 1, we have sent the "
                                 "Blue+ill and 4 orders.",
             DEMO[1]: "The Glass Design is made of 6 and costs £2."}

    def __init__(self, *, honest: bool = False) -> None:
        self.honest = honest
        self.asked: list[str] = []

    def warm_up(self) -> None:
        pass

    def run(self, question: str, passages: Sequence[str], *, max_time_s: float,
            copy_bias: float = 0.0) -> Generation:
        self.asked.append(question)
        text = _price_sentence(passages[0]) if self.honest else self.WROTE[question]
        return Generation(text, 10, 10, 1.0, False)


async def test_the_issues_nonsense_answers_are_never_sent(  # type: ignore[no-untyped-def]
        aiohttp_client, shop_settings: Settings) -> None:
    generator = Replays()
    client = await aiohttp_client(create_app(shop_settings, generator=generator))
    for i, (question, wrote) in enumerate(Replays.WROTE.items()):
        body = await _ask(client, f"nonsense-{i}", question)
        assert wrote not in str(body)
        route, flags, meta = await _logged(client, f"nonsense-{i}")
        if route != "generate":  # answered some other way: GPT-2 was not asked
            assert question not in generator.asked
            continue
        _assert_withheld(body, meta["evidence"])
        assert {"generated", "ungrounded"} <= set(flags) and meta["grounding"] == 0.0
        assert meta["withheld_draft"] == wrote, "auditors see the draft that was not sent"
    assert DEMO[1] in generator.asked, "the README's question is answered by GPT-2"


async def test_a_draft_whose_claims_the_passages_state_is_sent(  # type: ignore[no-untyped-def]
        aiohttp_client, shop_settings: Settings) -> None:
    client = await aiohttp_client(create_app(shop_settings, generator=Replays(honest=True)))
    body = await _ask(client, "honest", DEMO[1])
    route, flags, meta = await _logged(client, "honest")
    assert route == "generate"
    assert body == [{"recipient_id": "honest", "text": _price_sentence(meta["evidence"][0])}]
    assert "ungrounded" not in flags and meta["grounding"] == 1.0
