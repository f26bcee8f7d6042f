"""The shop actions, run through rasa-sdk's real ``ActionExecutor``."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.executor import ActionExecutor

from actions.runner import DOMAIN, ActionOutcome, InProcessActionRunner, tracker_state
from actions.services import ShopServices
from actions.shop_actions import ActionOrderStatus, ActionRecommend, describe_order


@pytest.fixture(scope="module")
def runner(services: ShopServices) -> InProcessActionRunner:
    runner = InProcessActionRunner(services)
    runner.warm_up()
    return runner


def turn(intent: str, slots: dict[str, Any] | None = None, entities: list[dict[str, Any]] | None
         = None, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    base = {"last_product": None, "order_number": None, "recommend_mode": None}
    return tracker_state("web-1", {**base, **(slots or {})}, "hi", intent, entities or [],
                         metadata or {})


def cards(outcome: ActionOutcome) -> list[str]:
    (message,) = outcome.messages
    assert message.custom is not None and message.custom["type"] == "products"
    return [card["stock_code"] for card in message.custom["products"]]


def slot_events(outcome: ActionOutcome) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in outcome.events if e["event"] == "slot"}


async def recommend(runner: InProcessActionRunner, **kwargs: Any) -> ActionOutcome:
    return await runner.run("action_recommend", turn("recommend", **kwargs), DOMAIN)


async def order_status(runner: InProcessActionRunner, **kwargs: Any) -> ActionOutcome:
    return await runner.run("action_order_status", turn("order_status", **kwargs), DOMAIN)


def test_package_registers_exactly_the_shop_actions() -> None:
    executor = ActionExecutor()
    executor.register_package("actions")
    # The abstract ShopAction base is skipped; each concrete action is built without arguments.
    assert isinstance(executor.actions["action_recommend"].__self__, ActionRecommend)
    assert isinstance(executor.actions["action_order_status"].__self__, ActionOrderStatus)


async def test_anonymous_recommend_is_popular(runner: InProcessActionRunner,
                                              services: ShopServices) -> None:
    outcome = await recommend(runner)
    shown = cards(outcome)
    assert shown[:3] == ["10006", "10001", "10002"]
    assert shown == [s.stock_code for s in services.recommender.popular(len(shown))]
    assert outcome.messages[0].text == "Here are our customers' favourites:"
    assert slot_events(outcome) == {"last_product": "10006"}


async def test_cards_carry_catalogue_details(runner: InProcessActionRunner,
                                             services: ShopServices) -> None:
    message = (await recommend(runner)).messages[0]
    assert message.custom is not None
    first = message.custom["products"][0]
    assert first == services.products["10006"].card()
    assert len(message.custom["products"]) == 4


async def test_known_customer_gets_personal_picks(runner: InProcessActionRunner) -> None:
    outcome = await recommend(runner, metadata={"customer_id": "12345"})
    assert cards(outcome)[:2] == ["10007", "10004"]
    assert outcome.messages[0].text == "Picked for you, based on your past orders:"
    assert slot_events(outcome) == {"last_product": "10007"}


async def test_unknown_customer_gets_popular(runner: InProcessActionRunner) -> None:
    assert cards(await recommend(runner, metadata={"customer_id": "99999"})) == \
        cards(await recommend(runner))


async def test_similar_intent_recommends_like_the_last_product(
        runner: InProcessActionRunner) -> None:
    tracker = turn("recommend_similar", slots={"last_product": "10001"},
                   metadata={"customer_id": "12345"})
    outcome = await runner.run("action_recommend", tracker, DOMAIN)
    shown = cards(outcome)
    assert shown[0] == "10002" and "10001" not in shown
    assert outcome.messages[0].text == "Here are some items like the red heart mug:"
    assert slot_events(outcome) == {"last_product": "10002"}


async def test_similar_mode_slot_also_asks_for_similar(runner: InProcessActionRunner) -> None:
    outcome = await recommend(runner, slots={"last_product": "10001", "recommend_mode": "similar"})
    assert cards(outcome)[0] == "10002"


async def test_similar_without_a_last_product_falls_back(runner: InProcessActionRunner) -> None:
    tracker = turn("recommend_similar")
    assert cards(await runner.run("action_recommend", tracker, DOMAIN)) == \
        cards(await recommend(runner))


# The bot passes a customer id to actions only once the shop's signature proved it.
OWNER = {"customer_id": "12345"}


async def test_order_status_from_entity(runner: InProcessActionRunner,
                                        services: ShopServices) -> None:
    outcome = await order_status(runner, entities=[{"entity": "order_number", "value": "#500009"}],
                                 metadata=OWNER)
    text = outcome.messages[0].text or ""
    assert text == describe_order(services.orders["500009"])
    for part in ("500009", "delivered", "2011-02-01", "2011-02-04", "3 items", "£8.75"):
        assert part in text
    assert slot_events(outcome) == {"order_number": "500009"}


async def test_order_status_from_slot(runner: InProcessActionRunner) -> None:
    outcome = await order_status(runner, slots={"order_number": "500010"}, metadata=OWNER)
    assert "shipped" in (outcome.messages[0].text or "")
    assert "4 items, total £10.00" in (outcome.messages[0].text or "")


async def test_entity_wins_over_slot(runner: InProcessActionRunner) -> None:
    outcome = await order_status(runner, slots={"order_number": "500010"},
                                 entities=[{"entity": "order_number", "value": "500009"}])
    assert slot_events(outcome) == {"order_number": "500009"}


async def test_owner_sees_their_order(runner: InProcessActionRunner) -> None:
    outcome = await order_status(runner, slots={"order_number": "500009"},
                                 metadata={"customer_id": "12345.0"})
    assert "delivered" in (outcome.messages[0].text or "")


async def test_other_customers_order_is_not_revealed(runner: InProcessActionRunner) -> None:
    outcome = await order_status(runner, slots={"order_number": "500009"},
                                 metadata={"customer_id": "11111"})
    text = outcome.messages[0].text or ""
    assert "can't find an order 500009 on your account" in text
    for secret in ("delivered", "2011-02-04", "£8.75"):
        assert secret not in text
    unknown = await order_status(runner, slots={"order_number": "999999"}, metadata={"customer_id": "11111"})
    assert (unknown.messages[0].text or "").replace("999999", "#") == text.replace("500009", "#"), (
        "someone else's order and no order at all read the same")


async def test_anonymous_shoppers_prove_the_order_is_theirs(runner: InProcessActionRunner) -> None:
    asked = await order_status(runner, entities=[{"entity": "order_number", "value": "500009"}])
    unknown = await order_status(runner, entities=[{"entity": "order_number", "value": "999999"}])
    text = asked.messages[0].text or ""
    assert "postcode" in text and "delivered" not in text
    assert (unknown.messages[0].text or "").replace("999999", "#") == text.replace("500009", "#")
    assert slot_events(asked) == {"order_number": "500009"}

    wrong = await order_status(runner, slots={"order_number": "500009"},
                               entities=[{"entity": "postcode", "value": "EC1A 1BB"}])
    assert "couldn't confirm" in (wrong.messages[0].text or "")
    right = await order_status(runner, slots={"order_number": "500009"},
                               entities=[{"entity": "postcode", "value": "sw1a1aa"}])
    assert "delivered" in (right.messages[0].text or "")
    assert slot_events(right) == {"order_number": "500009", "verified_order": "500009"}
    by_email = await order_status(runner, slots={"order_number": "500009"},
                                  entities=[{"entity": "email", "value": "Buyer500009 at example dot com"}])
    assert "delivered" in (by_email.messages[0].text or "")
    later = await order_status(runner, slots={"order_number": "500009", "verified_order": "500009"})
    assert "delivered" in (later.messages[0].text or "")


async def test_no_order_number_asks_for_it(runner: InProcessActionRunner) -> None:
    outcome = await order_status(runner)
    assert "order number" in (outcome.messages[0].text or "")
    assert outcome.events == ()


async def test_actions_without_services_load_from_settings(
        monkeypatch: pytest.MonkeyPatch, shop_settings: Any) -> None:
    monkeypatch.setenv("SHOPBOT_VAR_DIR", str(shop_settings.var_dir))
    monkeypatch.setenv("SHOPBOT_TRANSACTIONS_CSV", str(shop_settings.transactions_csv))
    action = ActionOrderStatus()
    assert action.services() is action.services()  # loaded once, then cached
    assert "500009" in action.services().orders
    assert ActionRecommend().name() == "action_recommend"
