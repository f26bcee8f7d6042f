"""A Rasa project's knowledge as the bot answers it now: its intents plus promoted changes."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from retrieval.corrections import apply_changes, stored_changes
from retrieval.knowledge import KnowledgeEntry
from retrieval.rasa_project import RasaProject


def project_entries(project: RasaProject, engine: Engine) -> list[KnowledgeEntry]:
    """The project's intents with the auditors' active promoted changes applied."""
    return apply_changes(project.entries, stored_changes(engine))
