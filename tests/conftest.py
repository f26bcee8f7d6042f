"""Shared fixtures: a real demo shop, real indexes, a tiny real GPT-2, the real app factory."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp.web_app
import pytest
from aiohttp.test_utils import TestClient

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from core.settings import REPO_ROOT, Settings  # noqa: E402
from retrieval.router import RouterConfig  # noqa: E402
from tests.identity import IDENTITY_ENV, SECRET  # noqa: E402

# The shop's identity secret, as a shop would set it for the server (read by env-var name).
os.environ[IDENTITY_ENV] = SECRET.decode()

# The shipped method with fewer steps: real routing quality in well under a minute.
ROUTER_CONFIG = RouterConfig(epochs=2.0, min_steps=150, refit=False)


@pytest.fixture(autouse=True)
def _forget_built_handlers() -> Iterator[None]:
    """Free each test's application when it ends.

    aiohttp memoises every built middleware chain in a module-level LRU cache (1,024 entries),
    and each entry keeps its application, models included, alive. A server builds one app, so
    that costs nothing there; a test run builds hundreds, and without this the suite grows past
    20 GB and is killed.
    """
    yield
    clear = getattr(aiohttp.web_app, "_cached_build_middleware", None)
    if clear is not None:
        clear.cache_clear()


@pytest.fixture(scope="session")
def built_var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A var dir with the full demo shop, its indexes, a trained router and a tiny generator."""
    from bot.generation.fast import OnnxGpt2Generator
    from bot.training.corpus import build_corpus
    from bot.training.generator import TrainConfig, train_generator
    from core.shop import load_products
    from retrieval.embeddings import sentence_encoder
    from retrieval.knowledge import load_knowledge
    from retrieval.knowledge_base import load_entries, load_knowledge_base
    from retrieval.prepare import prepare_shop
    from retrieval.router_train import train_router
    from retrieval.turn_encoder import export_onnx

    var = tmp_path_factory.mktemp("var")
    settings = Settings(var_dir=var)
    prepare_shop(settings.transactions_csv, settings.shop_dir)
    entries = load_entries(settings.faq_path, settings.intents_path)
    encoder = sentence_encoder(settings.inference_backend, settings.encoder_dir)
    load_knowledge_base(entries, settings.shop_dir, settings.index_dir, encoder)
    train_router(entries, settings.router_dir, config=ROUTER_CONFIG, progress=False)
    export_onnx(settings.router_dir)
    corpus = build_corpus(load_knowledge(settings.faq_path), load_products(settings.shop_dir)[:300])
    train_generator(corpus, var / "generator", config=TrainConfig.tiny(), progress=False)
    OnnxGpt2Generator(settings.generator_dir, var / "generator-fast").warm_up()
    return var


@pytest.fixture(scope="session")
def mpnet_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The accurate profile's all-mpnet-base-v2 ONNX export, from the installed wheels (`make test`
    installs them), made once a session: about half a minute."""
    from retrieval.mpnet import ensure_export

    return ensure_export(tmp_path_factory.mktemp("mpnet") / "mpnet")


@pytest.fixture(scope="session")
def accurate_router(built_var: Path, mpnet_export: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo shop's router trained for the accurate profile (the shop's test config), exported."""

    from retrieval.knowledge_base import load_entries
    from retrieval.mpnet import MpnetEncoder
    from retrieval.router_train import train_router
    from retrieval.turn_encoder import export_onnx

    settings = Settings(var_dir=built_var)
    # The shop's settings find the export where `shopbot setup` puts it.
    if not settings.mpnet_dir.exists():
        settings.mpnet_dir.symlink_to(mpnet_export, target_is_directory=True)
    entries = load_entries(settings.faq_path, settings.intents_path)
    out = tmp_path_factory.mktemp("accurate") / "router"
    train_router(entries, out, config=ROUTER_CONFIG.for_profile("accurate"), progress=False,
                 second=MpnetEncoder(mpnet_export))
    export_onnx(out)
    return out


@pytest.fixture(scope="session")
def selector_var(built_var: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``built_var`` with a router for the Rasa ResponseSelector example project (trained once)."""
    from tests.bot.rasa.test_rasa_rest import project_var
    from tests.retrieval.test_rasa_project import SELECTOR

    return project_var(built_var, tmp_path_factory.mktemp("selector") / "var", SELECTOR)


@pytest.fixture
def shop_settings(built_var: Path, tmp_path: Path) -> Settings:
    """Settings on the built shop with a fresh turn-log database per test."""
    return Settings(
        var_dir=built_var,
        database_url=f"sqlite:///{tmp_path / 'turns.sqlite3'}",
        web_dir=REPO_ROOT / "web",
        journal_dir=tmp_path / "journal",
        identity_secret_env=IDENTITY_ENV,
    )


@pytest.fixture
async def client(aiohttp_client, shop_settings: Settings) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    """A test client on the real application."""
    from bot.server import create_app

    yield await aiohttp_client(create_app(shop_settings))


# Registered router versions for the lifecycle tests and the Models page (trained once a session).
from tests.registry import lifecycle_settings, registered  # noqa: E402, F401
