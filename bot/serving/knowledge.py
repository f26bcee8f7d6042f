"""The knowledge the bot answers from: the FAQ and intents (or a Rasa project's), the catalogue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from functools import partial

from aiohttp import web

from bot.engine.state_backup import STATE_TTL_S, StateBackup
from bot.rasa.actions import project_actions
from bot.rasa.reminders import DatabaseReminders
from bot.rasa.responder import RasaResponder
from bot.rasa.slots import InProcessSlots, RedisSlots
from bot.serving.encoder import ENCODER
from bot.web.keys import ENGINE, REDIS, REDIS_OUTAGE, SETTINGS, STATE_KEY
from retrieval.knowledge_base import KnowledgeBase, answered_entries, load_knowledge_base
from retrieval.rasa_entities import project_extractors
from retrieval.rasa_project import load_rasa_project

log = logging.getLogger(__name__)

# A Rasa project's turns, slots and custom actions (present only with SHOPBOT_RASA_PROJECT).
RASA = web.AppKey("rasa_responder", RasaResponder)
KNOWLEDGE = web.AppKey("knowledge", KnowledgeBase)
# With a Rasa project: its reminders, in the database (fired by bot/serving/reminders.py).
REMINDERS = web.AppKey("rasa_reminders", DatabaseReminders)


async def rasa_ctx(app: web.Application) -> AsyncIterator[None]:
    """A Rasa project's turns, slots and custom actions (only with SHOPBOT_RASA_PROJECT)."""
    settings = app[SETTINGS]
    if settings.rasa_project is None:
        yield
        return
    project = await asyncio.to_thread(load_rasa_project, settings.rasa_project)
    actions = project_actions(project.action_endpoint, project.actions_path, settings.action_timeout_s)
    if actions is not None:
        await asyncio.to_thread(actions.warm_up)  # imports the project's own actions, off the event loop
    # Entities from typed text (the CRF trained by `shopbot setup`, here only if missing; the Duckling
    # stand-in), loaded off the loop.
    extractor = project_extractors(project.nlu, settings.rasa_entities_dir, project.duckling)
    if extractor is not None:
        await asyncio.to_thread(extractor.warm_up)
    book = DatabaseReminders(app[ENGINE], max_per_conversation=settings.rasa_reminders_per_conversation,
                             key=app[STATE_KEY])
    app[REMINDERS] = book
    redis = app.get(REDIS)
    slots = (RedisSlots(redis, ttl_s=STATE_TTL_S, outage=app.get(REDIS_OUTAGE),
                        backup=StateBackup(app[ENGINE], "rasa", app[STATE_KEY], STATE_TTL_S))
             if redis is not None else InProcessSlots(settings.memory_max_conversations))
    app[RASA] = RasaResponder(project, slots, actions, extractor=extractor, reminders=book)
    log.info("Rasa project %s: %d intents, %d answered (%d more in context only); %d parts listed by "
             "`shopbot rasa-check`", project.root, len(project.entries), len(project.turns),
             len(set(project.continuations) - set(project.turns)), len(project.issues))
    yield
    if actions is not None:
        await actions.close()


async def knowledge_ctx(app: web.Application) -> AsyncIterator[None]:
    """The FAQ and intents (or the Rasa project's), promoted changes applied, and the catalogue."""
    settings, rasa, engine = app[SETTINGS], app.get(RASA), app[ENGINE]
    entries = await asyncio.to_thread(answered_entries, engine, settings.faq_path, settings.intents_path,
                                      rasa.project.entries if rasa is not None else None)
    kb, rebuilt = await asyncio.to_thread(partial(
        load_knowledge_base, entries, settings.shop_dir, settings.index_dir, app[ENCODER].encoder
    ))
    if rebuilt:
        log.info("rebuilt indexes: %s", ", ".join(rebuilt))
    app[KNOWLEDGE] = kb
    yield
