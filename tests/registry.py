"""Registered router versions shared by the lifecycle tests and the Models page (once per session).

``good`` holds the seed router of ``built_var`` registered as a candidate (same data, same
settings, same weights), so the gate must let it through with nothing lost; ``shuffled``
learnt the same phrasings with their labels shuffled, the deliberately bad candidate the gate
must refuse. Each test gets its own copy of
the registry's database; the versions' files are shared (nothing rewrites them).
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from bot.lifecycle.artifacts import copy_into
from bot.lifecycle.registry import ModelKind, ModelRegistry
from bot.serving.schema import create_tables
from bot.training.lifecycle import data_hash, router_metrics, train_candidate
from core.db import make_engine
from core.settings import REPO_ROOT, Settings
from retrieval.knowledge import KnowledgeEntry
from retrieval.knowledge_base import load_entries
from retrieval.router import RouterConfig
from tests.conftest import ROUTER_CONFIG
from tests.identity import IDENTITY_ENV


@dataclass(frozen=True)
class Registered:
    """The template registry and its two candidates."""

    database: Path
    models_dir: Path
    good: str
    shuffled: str


def shuffled_labels(entries: list[KnowledgeEntry], seed: int = 0) -> list[KnowledgeEntry]:
    """The same phrasings and entries, each phrasing given a random entry's label."""
    texts = [q for e in entries for q in e.questions]
    random.Random(seed).shuffle(texts)
    out, start = [], 0
    for e in entries:
        out.append(replace(e, questions=tuple(texts[start : start + len(e.questions)])))
        start += len(e.questions)
    return out


@pytest.fixture(scope="session")
def registered(built_var: Path, tmp_path_factory: pytest.TempPathFactory) -> Registered:
    """Train the two candidates into a template registry."""
    root = tmp_path_factory.mktemp("registry")
    database = root / "template.sqlite3"
    engine = make_engine(f"sqlite:///{database}")
    create_tables(engine)
    settings = Settings(var_dir=built_var)
    entries = load_entries(settings.faq_path, settings.intents_path)
    registry = ModelRegistry(engine, root / "models")
    # The seed's own files as a candidate: what a retrain that loses nothing gives, without
    # the minute of training (test_cli_router.py and test_deploy_process.py train candidates).
    staging = registry.staging(ModelKind.ROUTER)
    copy_into(settings.router_dir, staging)
    good = registry.register(ModelKind.ROUTER, staging, data_hash=data_hash(entries),
                             settings={"router": ROUTER_CONFIG.to_json()},
                             metrics=router_metrics(staging), created_by="test")
    bad = train_candidate(registry, shuffled_labels(entries), config=RouterConfig.tiny(), created_by="test")
    engine.dispose()
    return Registered(database, root / "models", good.version, bad.version)


@pytest.fixture
def lifecycle_settings(built_var: Path, registered: Registered, tmp_path: Path) -> Settings:
    """The built shop with its own copy of the registry's database (and its turn log)."""
    database = tmp_path / "turns.sqlite3"
    shutil.copy(registered.database, database)
    return Settings(
        var_dir=built_var,
        database_url=f"sqlite:///{database}",
        models_dir=registered.models_dir,
        web_dir=REPO_ROOT / "web",
        journal_dir=tmp_path / "journal",
        identity_secret_env=IDENTITY_ENV,
        model_check_every_s=0.2,
    )
