"""Fixtures shared by the Rasa tests: Rasa's own starter project with its router trained once."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def starter_var(built_var: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``built_var`` with a router for `rasa init`'s moodbot (``tests/fixtures/rasa/initial_project``)."""
    from tests.bot.rasa.test_rasa_rest import project_var
    from tests.retrieval.test_rasa_project import STARTER

    return project_var(built_var, tmp_path_factory.mktemp("starter") / "var", STARTER)
