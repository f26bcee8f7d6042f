"""Fixed wording of the bot's own replies (everything not from the FAQ, an action or GPT-2)."""

from __future__ import annotations

from core.messages import BotMessage, Button

CAPABILITIES = (
    Button("Delivery times", "/uk_delivery"),
    Button("Find a gift", "/recommend"),
    Button("Track my order", "/order_status"),
    Button("Talk to a person", "/handoff"),
)


def decline() -> BotMessage:
    """Polite out-of-scope answer with what the bot can do instead."""
    return BotMessage(
        text=(
            "Sorry, I can only help with our shop: products, orders, delivery, returns and "
            "payments. Is there something about those I can help with?"
        ),
        buttons=CAPABILITIES,
    )


def handoff() -> BotMessage:
    """Acknowledgement that a person will take over."""
    return BotMessage(
        text=(
            "Of course. I've asked a member of our customer service team to join this "
            "conversation; they will reply here as soon as they can."
        )
    )


def escalated(reason: str, position: int, said: tuple[BotMessage, ...]) -> tuple[BotMessage, ...]:
    """What the shopper reads when a person is asked to join: why, and their place in the queue."""
    queue = (
        "You're next in the queue." if position <= 1 else f"You're number {position} in the queue."
    )
    if reason == "requested":
        return (BotMessage(text=f"Of course. I've asked a member of our customer service team to "
                                f"join this conversation. {queue} They will reply right here."),)
    lead = ("I'm sorry this has been frustrating." if reason == "negative_sentiment"
            else "I don't seem to be getting this right.")
    note = BotMessage(text=f"{lead} I've asked a member of our team to join this conversation. "
                           f"{queue} They will reply right here.")
    return (*said, note)


def generation_failed() -> BotMessage:
    """Canned answer when generation fails or runs out of time."""
    return BotMessage(
        text=(
            "I'm not sure about that one. You can ask me about a product by name, or talk to "
            "a person from our team."
        ),
        buttons=(Button("Talk to a person", "/handoff"),),
    )


def error() -> BotMessage:
    """Answer when the turn failed."""
    return BotMessage(
        text="Sorry, something went wrong on our side. Please try again in a moment.",
        buttons=(Button("Talk to a person", "/handoff"),),
    )


def no_products() -> BotMessage:
    """Product search found nothing in the requested range."""
    return BotMessage(
        text="I couldn't find products matching that. Could you describe it another way?",
    )


def too_many_lookups(wait_s: int) -> BotMessage:
    """Order lookups are paused for this conversation or address."""
    minutes = max(1, round(wait_s / 60))
    return BotMessage(
        text=(f"You've looked up several orders in a short time. Please try again in about {minutes} "
              f"minute{'s' if minutes != 1 else ''}, or sign in to see your orders straight away."),
        buttons=(Button("Talk to a person", "/handoff"),),
    )


def escalation_unavailable() -> BotMessage:
    """A person was asked for, but the queue cannot be reached right now."""
    return BotMessage(
        text=("I'm sorry, I can't reach our customer service team right now. Please try again in "
              "a few minutes, or email hello@shopbot-demo.example."),
    )
