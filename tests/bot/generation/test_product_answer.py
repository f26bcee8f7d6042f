"""Questions about a named product: answered about that product, from its facts, or honestly not."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.generation.product_answer import unsupported_claims, verified
from bot.serving.turnlog import SINK
from bot.web.keys import ENGINE
from core.settings import Settings
from core.shop import Product, load_products
from monitoring.turnlog import turns

URL = "/webhooks/rest/webhook"
JAR = Product("1", "Classic Glass Cookie Jar", 4.25, "Kitchen", facts={
    "price_min": 3.75, "price_max": 4.25, "orders": 12, "countries": ["United Kingdom"],
    "materials": ["glass"], "category": "Kitchen"})


def test_the_verifier_keeps_only_the_fact_all_of_it_and_nothing_else() -> None:
    evidence, facts = JAR.evidence(), JAR.fact_sentences()
    price, ships = facts["price"], facts["shipping"]
    assert verified(price, price, evidence, JAR)
    assert verified("The Classic Glass Cookie Jar costs £4.25, and it has sold for £3.75 to £4.25.",
                    price, evidence, JAR)  # reworded
    assert not verified("The Classic Glass Cookie Jar costs £5.99 (it has sold for £3.75 to £4.25).",
                        price, evidence, JAR)  # made-up price
    assert not verified("The Classic Glass Cookie Jar costs £4.25.", price, evidence, JAR)  # range dropped
    assert not verified(price.replace("Classic Glass Cookie Jar", "Glass Jar"), price, evidence, JAR)
    assert not verified(price[:-1] + ", and it is dishwasher safe.", price, evidence, JAR)
    # A number from elsewhere in the evidence (the 12 orders) is not this fact's.
    assert not verified("The Classic Glass Cookie Jar costs £4.25 (it has sold for £3.75 to £12).",
                        price, evidence, JAR)
    assert not verified("We have sent the Classic Glass Cookie Jar to Kitchen.", ships, evidence, JAR)
    assert unsupported_claims("it costs £4.25, was £9", evidence) == ["9"]
    assert unsupported_claims("it was in 2 orders", evidence) == ["2"]  # not a part of 12


def _product(built_var: Path) -> Product:
    products = load_products(Settings(var_dir=built_var).shop_dir)
    # A product whose name is not a part of another's, with facts beyond its price.
    names = [p.name.lower() for p in products]
    return next(p for p in sorted(products, key=lambda p: -p.popularity)
                if len(p.name.split()) >= 3 and "shipping" in p.fact_sentences()
                and sum(p.name.lower() in n for n in names) == 1)


async def _ask(client: TestClient, sender: str, text: str) -> list[dict]:  # type: ignore[type-arg]
    resp = await client.post(URL, json={"sender": sender, "message": text})
    assert resp.status == 200
    return list(await resp.json())


async def test_a_fact_question_is_answered_about_the_named_product(client: TestClient,
                                                                  built_var: Path) -> None:
    product = _product(built_var)
    body = await _ask(client, "pq-1", f"which countries have you sent the {product.name.lower()} to?")
    assert body[0]["text"] == product.fact_sentences()["shipping"]
    assert body[1]["custom"]["products"][0]["stock_code"] == product.stock_code
    body = await _ask(client, "pq-2", f"how much does the {product.name.lower()} cost?")
    assert product.name in body[0]["text"] and f"£{product.price:.2f}" in body[0]["text"]
    assert not unsupported_claims(body[0]["text"], product.evidence())


async def test_what_the_facts_cannot_answer_is_not_guessed(client: TestClient, built_var: Path) -> None:
    product = _product(built_var)
    body = await _ask(client, "pq-3", f"is the {product.name.lower()} dishwasher safe?")
    text = body[0]["text"]
    assert "don't answer that" in text and product.name in text
    assert body[0]["buttons"] == [{"title": "Ask a person", "payload": "/handoff"}]
    assert body[1]["custom"]["products"][0]["stock_code"] == product.stock_code
    await client.app[SINK].flush()
    with client.app[ENGINE].connect() as conn:
        rows = conn.execute(select(turns.c.route, turns.c.flags, turns.c.hits)
                            .where(turns.c.conversation_id == "pq-3")).all()
    route, flags, hits = rows[0]
    assert route == "generate"
    assert "ungrounded" not in flags
    assert product.stock_code in [h["id"] for h in hits if h["kind"] == "product"]
