"""Every table of the application's one database, created in one place at start-up."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from bot.auth.sessions import metadata as sessions
from bot.auth.users import metadata as users
from bot.handoff.store import metadata as handoffs
from bot.review.store import review_metadata as reviews
from monitoring.turnlog import metadata as turns
from retrieval.corrections import metadata as changes


def create_tables(engine: Engine) -> None:
    """Create whichever tables are missing (blocking)."""
    for metadata in (turns, reviews, handoffs, users, sessions, changes):
        metadata.create_all(engine)
