"""Every table of the application's one database, created in one place at start-up."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.auth.sessions import metadata as sessions
from bot.auth.users import metadata as users
from bot.handoff.store import metadata as handoffs
from bot.lifecycle.registry import metadata as models
from bot.review.store import review_metadata as reviews
from monitoring.turnlog import metadata as turns
from retrieval.corrections import metadata as changes

# Any fixed 64-bit number, the same in every worker: the key of the schema's advisory lock.
SCHEMA_LOCK = 0x5B0_7AB1E5


def create_tables(engine: Engine) -> None:
    """Create whichever tables are missing (blocking), one worker at a time."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Workers started together on an empty database would race in CREATE TABLE, and all
            # but one fail on a unique violation in pg_type. Under this lock (released at commit)
            # the first creates the tables and the others then find them.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
        for metadata in (turns, reviews, handoffs, users, sessions, changes, models):
            metadata.create_all(conn)
