"""Responses rendered as Rasa's REST channel sends them: variants, conditions, slots, media."""

from __future__ import annotations

import random

from bot.rasa.responses import MediaMessage, choose_variant, fill, messages_of, render

VARIANTS = [
    {"text": "Hello!"},
    {"text": "Hi {name}!", "condition": [{"type": "slot", "name": "known", "value": True}]},
    {"text": "Hey there."},
    {"text": "Hallo", "channel": "slack"},
]


def rest(messages: list) -> list[dict]:  # type: ignore[type-arg]
    return [m.to_rest("u1") for m in messages]


def test_variants_are_chosen_at_random_among_those_that_apply() -> None:
    rng = random.Random(7)
    seen = {choose_variant(VARIANTS, {"known": False}, rng)["text"] for _ in range(200)}  # type: ignore[index]
    assert seen == {"Hello!", "Hey there."}, "no condition holds: the plain variants, never a channel's"
    seen = {choose_variant(VARIANTS, {"known": True}, rng)["text"] for _ in range(50)}  # type: ignore[index]
    assert seen == {"Hi {name}!"}, "a variant whose condition holds wins"
    only_channel = [{"text": "Hallo", "channel": "slack"}]
    assert choose_variant(only_channel, {}, rng) == only_channel[0]
    assert choose_variant([], {}, rng) is None


def test_placeholders_are_filled_from_slots() -> None:
    assert fill("Hi {name}, {name}!", {"name": "Ann"}) == "Hi Ann, Ann!"
    assert fill("Hi {name} {unknown}", {"name": "Ann"}) == "Hi {name} {unknown}", "Rasa leaves it as written"
    variant = {"text": "{n} items", "buttons": [{"title": "More than {n}", "payload": "/more"}], "id": "{n}"}
    assert render(variant, {"n": 3}) == {
        "text": "3 items", "buttons": [{"title": "More than 3", "payload": "/more"}], "id": "{n}"}


def test_one_response_makes_the_messages_rasas_rest_channel_sends() -> None:
    utterance = {
        "text": "Here you go:\n\nenjoy", "image": "https://example.org/a.png", "custom": {"kind": "card"},
        "attachment": {"type": "video", "payload": {"src": "v.mp4"}},
    }
    assert rest(messages_of(utterance)) == [
        {"recipient_id": "u1", "text": "Here you go:"},
        {"recipient_id": "u1", "text": "enjoy"},
        {"recipient_id": "u1", "custom": {"kind": "card"}},
        {"recipient_id": "u1", "image": "https://example.org/a.png"},
        {"recipient_id": "u1", "attachment": {"type": "video", "payload": {"src": "v.mp4"}}},
    ]
    buttons = [{"title": "great", "payload": "/mood_great"}]
    with_buttons = {"text": "How are you?\n\nReally?", "buttons": buttons}
    assert rest(messages_of(with_buttons)) == [
        {"recipient_id": "u1", "text": "How are you?\n\nReally?", "buttons": buttons}], "not split"


def test_images_show_as_image_cards_on_socketio() -> None:
    from bot.channels.socketio import to_socketio

    image = messages_of({"image": "https://example.org/a.png"})[0]
    assert isinstance(image, MediaMessage)
    assert to_socketio(image) == [{"attachment": {"type": "image", "payload": {"src": "https://example.org/a.png"}},
                                   "metadata": {"sender": "bot"}}]
