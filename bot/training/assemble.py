"""The lifecycle's operations assembled from the settings: the registry on the settings'
database, the knowledge the bot answers from now, and the policy's thresholds and intent routes
(a Rasa project's own when one is configured). What the CLI and the admin API's jobs both open.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bot.engine.policy import INTENT_ROUTES, RoutingThresholds
from bot.lifecycle.registry import ModelRegistry
from bot.rasa.responder import intent_routes
from bot.serving.schema import TABLES
from bot.training.gate import GateThresholds
from bot.training.lifecycle import GeneratorConfig, LifecycleConfig, ModelLifecycle
from core.db import create_tables, make_engine
from core.settings import Settings
from monitoring.flags import FlagThresholds
from retrieval.embeddings import sentence_encoder
from retrieval.knowledge_base import answered_entries, load_knowledge_base
from retrieval.rasa_project import load_rasa_project


def lifecycle_config(
    settings: Settings, routing: RoutingThresholds, flags: FlagThresholds
) -> LifecycleConfig:
    """The lifecycle's settings, as the server and the CLI both build them."""
    return LifecycleConfig(
        seed_dir=settings.router_dir, backend=settings.inference_backend, threads=settings.inference_threads,
        routing=routing, flags=flags,
        gate=GateThresholds(settings.gate_max_gold_drop, settings.gate_max_held_out_drop,
                            settings.gate_max_oos_recall_drop),
        replay_limit=settings.replay_limit,
        mpnet_dir=settings.mpnet_dir, device=settings.device,
        generator=GeneratorConfig(
            seed_dir=settings.generator_dir, seed_cache=settings.var_dir / "generator-fast",
            backend=settings.generation_backend, threads=settings.generation_threads,
            max_new_tokens=settings.generation_max_new_tokens, timeout_s=settings.generation_timeout_s,
            probes=settings.gate_product_questions, max_drop=settings.gate_max_generator_drop,
            max_loss_rise=settings.gate_max_generator_loss_rise,
        ),
    )


@contextmanager
def open_registry(settings: Settings) -> Iterator[ModelRegistry]:
    """The model registry on the settings' database (tables created when missing)."""
    engine = make_engine(settings.resolved_database_url())
    try:
        create_tables(engine, TABLES)
        yield ModelRegistry(engine, settings.resolved_models_dir)
    finally:
        engine.dispose()


@contextmanager
def open_lifecycle(settings: Settings) -> Iterator[ModelLifecycle]:
    """The lifecycle's operations over the knowledge the bot answers from now, routed as it does.

    What the CLI and the admin API's jobs (``bot.training.jobs``) both run.
    """
    project = load_rasa_project(settings.rasa_project) if settings.rasa_project is not None else None
    routes = intent_routes(project, INTENT_ROUTES) if project is not None else dict(INTENT_ROUTES)
    encoder = sentence_encoder(settings.inference_backend, settings.encoder_dir, settings.encoder_model,
                               settings.inference_threads)
    with open_registry(settings) as registry:
        entries = answered_entries(registry.engine, settings.faq_path, settings.intents_path,
                                   project.entries if project is not None else None)
        kb, _ = load_knowledge_base(entries, settings.shop_dir, settings.index_dir, encoder)
        config = lifecycle_config(
            settings, RoutingThresholds(settings.product_threshold, routes),
            FlagThresholds(settings.low_confidence_threshold, settings.ungrounded_threshold,
                           settings.slow_turn_ms, settings.unfamiliar_threshold))
        yield ModelLifecycle(registry, kb, config)
