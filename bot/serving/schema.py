"""Every table of the application's one database, created in one place at start-up."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.engine import Engine

from bot.auth.sessions import metadata as sessions
from bot.auth.users import metadata as users
from bot.engine.state_backup import metadata as conversation_state
from bot.handoff.store import metadata as handoffs
from bot.lifecycle.registry import metadata as models
from bot.rasa.reminders import metadata as reminders
from core import db
from monitoring.turnlog.reviews import review_metadata as reviews
from monitoring.turnlog.table import metadata as turns
from retrieval.corrections import metadata as changes

TABLES: tuple[MetaData, ...] = (turns, reviews, handoffs, users, sessions, changes, models,
                                 conversation_state, reminders)


def create_tables(engine: Engine) -> None:
    """Create whichever tables are missing (blocking), one worker at a time."""
    db.create_tables(engine, TABLES)
