"""What a shopper hears from the bot while a person is coming or has the conversation."""

from __future__ import annotations

from bot.engine.replies import WAITING, with_person
from core.messages import BotMessage


def test_a_shopper_waiting_for_a_person_always_hears_so() -> None:
    for channel in ("rest", "socketio"):
        assert with_person(None, channel) == (BotMessage(text=WAITING),), channel


def test_once_a_person_has_joined_only_rest_gets_a_receipt() -> None:
    assert with_person("sam", "socketio") == (), "their replies reach the live chat as they write"
    receipt = BotMessage(text="sam from our customer service team has your message.")
    assert with_person("sam", "rest") == (receipt,)
