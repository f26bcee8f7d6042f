"""The shop's rasa-sdk custom actions: product recommendations and order status.

The same classes run in-process (``actions.runner.InProcessActionRunner``) and inside a
standalone ``python -m rasa_sdk --actions actions`` server, which builds them without arguments.
"""

from __future__ import annotations

import hmac
import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.orders.choose import live_order_source
from actions.recommender import Scored, normalise_customer_id
from actions.services import ShopServices, normalise_order_id
from core.errors import Unavailable
from core.settings import Settings
from core.shop import Order, Product

CARDS = 4
# Attached to a reply that could not answer (the shop's order system is down), so the engine
# counts the turn unanswered towards escalation; ``reports_unavailable`` reads it.
UNAVAILABLE = {"type": "unavailable", "service": "orders"}
HANDOFF_BUTTON = {"title": "Talk to a person", "payload": "/handoff"}


def latest_metadata(tracker: Tracker) -> dict[str, Any]:
    """Metadata of the latest user message (parse data first, then the user event)."""
    metadata = tracker.latest_message.get("metadata")
    if not metadata:
        user = tracker.get_last_event_for("user")
        metadata = (user or {}).get("metadata")
    return dict(metadata) if isinstance(metadata, dict) else {}


def latest_customer(tracker: Tracker) -> str | None:
    """The signed-in customer id from the message metadata, if any."""
    return normalise_customer_id(latest_metadata(tracker).get("customer_id"))


class ShopAction(Action, ABC):
    """Base of the shop's actions: holds the services, loading them once on first use."""

    def __init__(self, services: ShopServices | None = None) -> None:
        self._services = services

    @abstractmethod
    def name(self) -> str:
        """The action's name in the domain."""

    def services(self) -> ShopServices:
        """The injected services, or ones loaded from ``Settings()`` (standalone server), with
        the order source ``SHOPBOT_ORDERS_SOURCE`` names."""
        if self._services is None:
            settings = Settings()  # the standalone action server's entry point
            source = live_order_source(settings.orders_source,
                                       settings.secret(settings.orders_secret_env),
                                       settings.orders_secret_env, shop_dir=settings.shop_dir,
                                       query=settings.orders_query)
            self._services = ShopServices.load(settings.shop_dir, settings.transactions_csv,
                                               settings.recommender_dir, source)
        return self._services


class ActionRecommend(ShopAction):
    """Recommend products: similar to the last one, personal, or popular."""

    def name(self) -> str:
        return "action_recommend"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[EventType]:
        shop = self.services()
        text, picks = self._picks(shop, tracker)
        products = _in_catalogue(shop, picks)
        if not products:
            dispatcher.utter_message(text="Sorry, I have no suggestions for you right now.")
            return []
        dispatcher.utter_message(
            text=text,
            json_message={"type": "products", "products": [p.card() for p in products]},
        )
        return [SlotSet("last_product", products[0].stock_code)]

    @staticmethod
    def _picks(shop: ShopServices, tracker: Tracker) -> tuple[str, list[Scored]]:
        # Ask for extra picks because some may be missing from the catalogue.
        wanted = CARDS * 3
        last = tracker.get_slot("last_product")
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        similar = intent == "recommend_similar" or tracker.get_slot("recommend_mode") == "similar"
        product = shop.product(str(last)) if last else None
        if similar and product is not None:
            return (f"Here are some items like the {product.name.strip().lower()}:",
                    shop.recommender.similar_to(product.stock_code, wanted))
        customer = latest_customer(tracker)
        if customer is not None and customer in shop.recommender.customers:
            return ("Picked for you, based on your past orders:",
                    shop.recommender.for_customer(customer, wanted))
        return "Here are our customers' favourites:", shop.recommender.popular(wanted)


def _in_catalogue(shop: ShopServices, picks: list[Scored]) -> list[Product]:
    products = [p for s in picks if (p := shop.product(s.stock_code)) is not None]
    return products[:CARDS]


class ActionOrderStatus(ShopAction):
    """Tell a customer where their order is, and nobody else anything about it.

    A verified customer (the shop signed their id; ``bot/identity.py``) sees their own orders.
    Anyone else must give the e-mail address or postcode the order was placed with; until they
    do, the answer is the same whether the number exists or not, so guessing numbers reveals
    nothing. The bot limits how often a conversation and an address may try.

    The order is asked of the shop's system at the question (``ShopServices.order_source``);
    when it cannot answer, the shopper is told so honestly and offered a person.
    """

    def name(self) -> str:
        return "action_order_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[EventType]:
        given = next(tracker.get_latest_entity_values("order_number"), None)
        number = normalise_order_id(given or tracker.get_slot("order_number") or "")
        if not number:
            dispatcher.utter_message(
                text="Sure, what is your order number? You will find it in your confirmation "
                     "email.")
            return []
        try:
            order = await self.services().order_source.order(number)
        except Unavailable:
            dispatcher.utter_message(
                text=f"I can't reach our order system right now, so I can't check order {number}. "
                     "Please try again in a few minutes, or I can ask a person from our team.",
                buttons=[dict(HANDOFF_BUTTON)], json_message=dict(UNAVAILABLE))
            return [SlotSet("order_number", number)]
        customer = latest_customer(tracker)
        if customer is not None:
            if order is None or normalise_customer_id(order.customer_id) != customer:
                dispatcher.utter_message(
                    text=f"I can't find an order {number} on your account. Please check the number "
                         "in your confirmation email.")
                return [SlotSet("order_number", None)]
            dispatcher.utter_message(text=describe_order(order))
            return [SlotSet("order_number", order.order_id)]
        if order is not None and tracker.get_slot("verified_order") == order.order_id:
            dispatcher.utter_message(text=describe_order(order))
            return [SlotSet("order_number", order.order_id)]
        proof = _proof(tracker)
        if proof is None:
            dispatcher.utter_message(
                text=f"To keep order details private, please sign in, or tell me the email address "
                     f"or postcode order {number} was placed with.")
            return [SlotSet("order_number", number)]
        if order is None or not _matches(order, proof):
            dispatcher.utter_message(
                text=f"Sorry, I couldn't confirm order {number} with those details. Please check "
                     "the order number and the email address or postcode, or sign in.")
            return [SlotSet("order_number", number)]
        dispatcher.utter_message(text=describe_order(order))
        return [SlotSet("order_number", order.order_id), SlotSet("verified_order", order.order_id)]


def reports_unavailable(custom: Mapping[str, Any] | None) -> bool:
    """Whether an action's message payload says a backing system could not answer (the turn
    is then not answered)."""
    return custom is not None and custom.get("type") == UNAVAILABLE["type"]


def _proof(tracker: Tracker) -> tuple[str, str] | None:
    email = next(tracker.get_latest_entity_values("email"), None)
    if email:
        return "email", normalise_email(str(email))
    postcode = next(tracker.get_latest_entity_values("postcode"), None)
    if postcode:
        return "postcode", normalise_postcode(str(postcode))
    return None


def _matches(order: Order, proof: tuple[str, str]) -> bool:
    kind, value = proof
    if kind == "email":
        return bool(order.email) and hmac.compare_digest(normalise_email(order.email), value)
    return bool(order.postcode) and hmac.compare_digest(normalise_postcode(order.postcode), value)


_AT_WORD = re.compile(r"\s*(?:[\[\(\{<]\s*at\s*[\]\)\}>]|\bat\b)\s*", re.IGNORECASE)
_DOT_WORD = re.compile(r"\s*(?:[\[\(\{<]\s*dot\s*[\]\)\}>]|\bdot\b)\s*", re.IGNORECASE)


def normalise_email(text: str) -> str:
    """``"Jane dot Doe at Mail dot com"`` → ``"jane.doe@mail.com"``."""
    text = _DOT_WORD.sub(".", _AT_WORD.sub("@", unicodedata.normalize("NFKC", text)))
    return re.sub(r"\s+", "", text).lower()


def normalise_postcode(text: str) -> str:
    """``"sw1a1aa"`` → ``"SW1A1AA"`` (spaces do not matter)."""
    return re.sub(r"\s+", "", text).upper()


def describe_order(order: Order) -> str:
    """One-sentence summary: status, date, expected delivery, item count and total."""
    items = sum(line.quantity for line in order.lines)
    noun = "item" if items == 1 else "items"
    return (f"Order {order.order_id}, placed on {order.date[:10]}, is {order.status}. "
            f"Expected delivery: {order.expected_delivery}. "
            f"It has {items} {noun}, total £{order.total:.2f}.")


def shop_actions(services: ShopServices | None = None) -> tuple[ShopAction, ...]:
    """One instance of every shop action, sharing ``services``."""
    return ActionRecommend(services), ActionOrderStatus(services)
