"""The ``shopbot`` commands that build, train, evaluate and deploy: apart from serving.

``bot/cli.py`` parses the command line and calls these; each imports what it needs when it
runs, so that ``shopbot run`` loads none of it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bot.training.seed_router import ensure_mpnet, router_config, train_seed_router
from core.errors import BadRequest
from core.settings import Settings
from retrieval.turn_encoder import BACKENDS


def cmd_prepare(settings: Settings, args: argparse.Namespace) -> int:
    """Build the demo shop tables from the transactions CSV."""
    from retrieval.prepare import prepare_shop

    report = prepare_shop(settings.transactions_csv, settings.shop_dir, progress=True)
    print(report)
    from actions.orders.demo_db import demo_orders_db

    # The demo's orders as a database, read by the SQL connector as a shop's own would be.
    print(f"demo orders database: {demo_orders_db(settings.shop_dir)}")
    return 0


def cmd_index(settings: Settings, args: argparse.Namespace) -> int:
    """Build (or confirm up to date) the FAQ and product indexes."""
    from retrieval.embeddings import sentence_encoder
    from retrieval.knowledge_base import load_knowledge_base

    entries = _entries(settings)
    encoder = sentence_encoder(settings.inference_backend, settings.encoder_dir, settings.encoder_model,
                               settings.inference_threads)
    kb, rebuilt = load_knowledge_base(entries, settings.shop_dir, settings.index_dir, encoder, progress=True)
    state = f"rebuilt {', '.join(rebuilt)}" if rebuilt else "already up to date"
    print(
        f"indexes {state}: {kb.routing.index.ntotal} phrasings, "
        f"{kb.products.index.ntotal} products, version {kb.version}"
    )
    return 0


def _entries(settings: Settings) -> list[Any]:
    """The knowledge the bot answers from now (files, or the Rasa project, plus promoted changes)."""
    from core.db import make_engine
    from retrieval.knowledge_base import answered_entries
    from retrieval.rasa_project import load_rasa_project

    project = load_rasa_project(settings.rasa_project) if settings.rasa_project is not None else None
    engine = make_engine(settings.resolved_database_url())
    try:
        return answered_entries(engine, settings.faq_path, settings.intents_path,
                                project.entries if project is not None else None)
    finally:
        engine.dispose()


def cmd_train_generator(settings: Settings, args: argparse.Namespace) -> int:
    """Train a candidate of the shop's small GPT-2 (served only once deployed)."""
    from bot.training.corpus import build_corpus
    from bot.training.generator import TrainConfig
    from bot.training.lifecycle import train_generator_candidate
    from core.shop import load_products
    from retrieval.knowledge import load_knowledge

    corpus = build_corpus(load_knowledge(settings.faq_path), load_products(settings.shop_dir))
    config = TrainConfig.tiny() if args.tiny else TrainConfig()
    with _registry(settings) as registry:
        version = train_generator_candidate(registry, corpus, config=config, created_by=args.by,
                                            progress=True)
    print(f"candidate {version.version}: {version.metrics['training']['steps']} steps, final loss "
          f"{version.metrics['training']['final_loss']:.3f}, trained in {version.metrics['train_s']:.0f} s")
    print(f"next: shopbot evaluate --candidate {version.version} && shopbot deploy {version.version}")
    return 0


def _train_seed_generator(settings: Settings, args: argparse.Namespace) -> int:
    """The seed GPT-2 `shopbot setup` trains under var/generator, served until a deploy."""
    from bot.training.corpus import build_corpus
    from bot.training.generator import TrainConfig, train_generator
    from core.shop import load_products
    from retrieval.knowledge import load_knowledge

    corpus = build_corpus(load_knowledge(settings.faq_path), load_products(settings.shop_dir))
    config = TrainConfig.tiny() if args.tiny else TrainConfig()
    report = train_generator(corpus, settings.var_dir / "generator", config=config, progress=True)
    print(report)
    return 0


def cmd_train(settings: Settings, args: argparse.Namespace) -> int:
    """Train a candidate router on the current knowledge (it serves only once deployed)."""
    from bot.lifecycle.registry import ModelKind, ModelState
    from bot.training.lifecycle import data_hash, train_candidate
    from retrieval.router_train import is_current

    entries = _entries(settings)
    config = router_config(settings, args)
    if config.profile == "accurate":
        ensure_mpnet(settings)
    with _registry(settings) as registry:
        live = registry.live(ModelKind.ROUTER)
        serving = live.path if live is not None else settings.router_dir
        if not args.force and is_current(serving, entries, config.profile):
            print(f"the live router was trained on this knowledge already ({serving}); "
                  "--force trains a candidate anyway")
            return 0
        same = [v for v in registry.versions(ModelKind.ROUTER) if v.state is ModelState.CANDIDATE
                and v.data_hash == data_hash(entries) and v.settings.get("router") == config.to_json()]
        if not args.force and same:
            print(f"candidate {same[0].version} was trained on this knowledge already; "
                  "--force trains another")
            return 0
        version = train_candidate(registry, entries, config=config, created_by=args.by, progress=True,
                                  mpnet_dir=settings.mpnet_dir)
    held = version.metrics["training"]
    print(f"candidate {version.version}: {len(entries)} entries, threshold {held['threshold']:.3f}; "
          f"held out: in-scope accuracy {held.get('held_out_accuracy_at_threshold')}, out-of-scope "
          f"recall {held.get('held_out_oos_recall')}; trained in {version.metrics['train_s']:.0f} s")
    print(f"next: shopbot evaluate --candidate {version.version} && shopbot replay --candidate "
          f"{version.version} && shopbot deploy {version.version}")
    return 0


@contextmanager
def _registry(settings: Settings) -> Iterator[Any]:
    from bot.training.assemble import open_registry

    with open_registry(settings) as registry:
        yield registry


@contextmanager
def _lifecycle(settings: Settings) -> Iterator[Any]:
    """The lifecycle operations over the knowledge the bot answers from now."""
    from bot.training.assemble import open_lifecycle

    with open_lifecycle(settings) as lifecycle:
        yield lifecycle


def _print(report: dict[str, Any], as_json: bool, text: Callable[[dict[str, Any]], str]) -> None:
    import json

    print(json.dumps(report) if as_json else text(report))


def cmd_evaluate(settings: Settings, args: argparse.Namespace) -> int:
    """The gate: gold-set and held-out metrics of a candidate and the live router, pass or fail."""
    from bot.training.report import evaluation_text

    with _lifecycle(settings) as lifecycle:
        report = lifecycle.evaluate(args.candidate)
    _print(report, args.json, evaluation_text)
    return 0 if report["passed"] else 1


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    """Recent shopper messages through a candidate and the live router: what would change."""
    from bot.training.report import replay_text

    with _lifecycle(settings) as lifecycle:
        report = lifecycle.replay(args.candidate, limit=args.limit, since=args.since)
    _print(report, args.json, replay_text)
    return 0


def cmd_deploy(settings: Settings, args: argparse.Namespace) -> int:
    """Make a version live (refused when it fails the gate, unless --force); workers swap to it."""
    from bot.lifecycle.registry import ModelKind

    with _registry(settings) as registry:
        if registry.get(args.version).kind is ModelKind.RECOMMENDER:
            from bot.training.recommender_refit import deploy_recommender

            # Judged when it was refitted: no router, no knowledge base to load.
            event = deploy_recommender(registry, args.version, actor=args.by, force=args.force)
            print(f"{event.version} is live (was {event.previous or 'the transactions fit'}; "
                  f"{'forced, ' if event.forced else ''}by {event.actor})")
            return 0
    with _lifecycle(settings) as lifecycle:
        event = lifecycle.deploy(args.version, actor=args.by, force=args.force)
    print(f"{event.version} is live (was {event.previous or 'the seed router'}; "
          f"{'forced, ' if event.forced else ''}by {event.actor}); running workers swap to it within "
          f"{settings.model_check_every_s:g} s")
    return 0


def cmd_rollback(settings: Settings, args: argparse.Namespace) -> int:
    """Make the router (generator, recommender) live before the current one live again."""
    from bot.lifecycle.registry import ModelKind

    kind = ModelKind(args.kind)
    if kind is ModelKind.RECOMMENDER:
        # The registry alone: no router, no knowledge base to load.
        with _registry(settings) as registry:
            event = registry.roll_back(kind, actor=args.by)
    else:
        with _lifecycle(settings) as lifecycle:
            event = lifecycle.rollback(actor=args.by, kind=kind)
    print(f"rolled back to {event.version} (from {event.previous}, by {event.actor}); running workers "
          f"swap to it within {settings.model_check_every_s:g} s")
    return 0


def cmd_models(settings: Settings, args: argparse.Namespace) -> int:
    """List registered model versions and the deploy history."""
    import json

    with _registry(settings) as registry:
        models, events = registry.versions(), registry.events()
    if args.json:
        print(json.dumps({"models": [m.to_json() for m in models], "events": [e.to_json() for e in events]}))
        return 0
    for m in models:
        held = m.metrics.get("training", {})
        gate = m.metrics.get("evaluation", {})
        verdict = "" if not gate else (" gate passed" if gate.get("passed") else " gate FAILED")
        if m.kind == "router":
            trained = (f"held-out accuracy {held.get('held_out_accuracy_at_threshold')} oos recall "
                       f"{held.get('held_out_oos_recall')}")
        elif m.kind == "recommender":
            figures = gate.get("metrics", {}).get("candidate", {})
            trained = (f"{held.get('sales')} sales, held-out recall@10 {figures.get('recall_at_10')} "
                       f"ndcg@10 {figures.get('ndcg_at_10')}")
        else:
            trained = f"final loss {held.get('final_loss')}"
        print(f"{m.version:<39} {m.state:<9} {trained}{verdict}")
    for e in events:
        print(f"{e.ts:%Y-%m-%d %H:%M:%S} {e.action:<8} {e.version} (was {e.previous}) by {e.actor}"
              + (" forced" if e.forced else ""))
    return 0


def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    """Train a fresh router on a knowledge file and score it on labelled cases (one JSON object)."""
    import json
    import tempfile

    from bot.training.router_eval import Catalogue, evaluate_backends, misses_writer
    from retrieval.embeddings import sentence_encoder
    from retrieval.prepare import is_prepared

    if args.faq is not None and args.rasa_project is not None:
        raise BadRequest("give --faq and --cases, or --rasa-project, not both")
    if args.faq is None and settings.rasa_project is not None:
        from bot.training.rasa_project import eval_rasa_project

        return eval_rasa_project(settings, args)
    if args.faq is None or args.cases is None:
        raise BadRequest("give --faq FILE and --cases FILE, or --rasa-project PATH (with --folds N)")
    config = router_config(settings, args)
    if config.profile == "accurate":
        ensure_mpnet(settings)
    backend = args.backend or settings.inference_backend
    backends = list(BACKENDS) if backend == "all" else [backend]
    # The shop's catalogue is searched too, as the server searches it (a named product is
    # answered about that product); --no-catalogue scores the knowledge file alone.
    catalogue = None
    if not args.no_catalogue and is_prepared(settings.shop_dir):
        encoder = sentence_encoder(settings.inference_backend, settings.encoder_dir, settings.encoder_model,
                                   settings.inference_threads)
        catalogue = Catalogue(settings.shop_dir, settings.index_dir, encoder)
    with tempfile.TemporaryDirectory(prefix="shopbot-eval-") as work:
        results = evaluate_backends(args.faq, args.cases, work_dir=Path(work), config=config,
                                    progress=True, backends=backends, threads=settings.inference_threads,
                                    catalogue=catalogue, mpnet_dir=settings.mpnet_dir,
                                    answered=misses_writer(args.misses) if args.misses else None)
    print(f"router served on {', '.join(backends)}; "
          f"{'the shop catalogue' if catalogue else 'no catalogue'} searched", file=sys.stderr)
    # One backend keeps the flat object; "all" gives one object per backend, same router.
    result: dict[str, object] = dict(results) if backend == "all" else results[backend]
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


def cmd_setup(settings: Settings, args: argparse.Namespace) -> int:
    """Prepare what is missing: shop tables, indexes, router, generator, recommender."""
    from retrieval.prepare import is_prepared

    if not is_prepared(settings.shop_dir):
        cmd_prepare(settings, args)
    # The catalogue from SHOPBOT_CATALOGUE_SOURCE (the demo's, or the shop's feed or platform).
    from bot.training.shop_commands import sync_if_switched

    sync_if_switched(settings)
    cmd_index(settings, args)
    if not settings.router_model:
        train_seed_router(settings, args, _entries(settings))
    if settings.rasa_project is not None:
        from bot.training.rasa_project import train_entities

        train_entities(settings)
    if not settings.generator_model:
        # Retrained only when its corpus (knowledge, catalogue, training documents) changed.
        _train_seed_generator(settings, args)
    if settings.generation_backend == "onnx-int8":
        from bot.generation.fast import OnnxGpt2Generator

        # Exported now, so that the server never needs PyTorch to start.
        OnnxGpt2Generator(settings.generator_dir, settings.var_dir / "generator-fast").warm_up()
    from actions.services import ShopServices

    # Fitted now and kept (refitted only when the transactions or catalogue change), so that
    # every worker start loads it instead of fitting it.
    ShopServices.load(settings.shop_dir, settings.transactions_csv, settings.recommender_dir)
    return 0


