"""A Rasa project's reminders fired as they fall due: once across workers, pushed to the shopper."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from aiohttp import web

from bot.engine.interfaces import TurnInput
from bot.handoff.desk import ShopperPush
from bot.rasa.payload import payload_text
from bot.rasa.reminders import ReminderScheduler
from bot.serving.desk import DESK
from bot.serving.engine import PIPELINE
from bot.serving.knowledge import REMINDERS
from bot.web.keys import SETTINGS
from core.messages import BotMessage

Ctx = Callable[[web.Application], AsyncIterator[None]]


def reminders_ctx(push: ShopperPush) -> Ctx:
    """The reminder scheduler (only with a Rasa project); answers reach the widget through ``push``."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        book = app.get(REMINDERS)
        if book is None:
            yield
            return
        settings, pipeline, desk = app[SETTINGS], app[PIPELINE], app[DESK]

        async def fire(
            conversation_id: str, intent: str, entities: list[dict[str, Any]]
        ) -> Sequence[BotMessage]:
            # Rasa predicts nothing for a paused tracker: a conversation with a person gets no reminder.
            if desk.active(conversation_id) is not None:
                return ()
            turn = TurnInput(conversation_id, payload_text(intent, entities), channel="reminder")
            return (await pipeline.run(turn)).messages

        scheduler = ReminderScheduler(book, fire, push.send, poll_s=settings.rasa_reminder_poll_s,
                                      lease_s=settings.rasa_reminder_lease_s,
                                      misfire_grace_s=settings.rasa_reminder_misfire_grace_s)
        await scheduler.start()
        yield
        await scheduler.stop()

    return ctx
