"""The shop's knowledge as the bot answers it now: the knowledge files plus promoted changes."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from core.settings import Settings
from retrieval.corrections import stored_changes
from retrieval.knowledge import KnowledgeEntry
from retrieval.knowledge_base import load_entries


def current_entries(settings: Settings, engine: Engine) -> list[KnowledgeEntry]:
    """FAQ and intent entries from the configured files, with the active promoted changes applied."""
    return load_entries(settings.faq_path, settings.intents_path, stored_changes(engine))
