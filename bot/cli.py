"""The ``shopbot`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.auth.cli import add_parser as add_users_parser
from core.errors import BadRequest, ShopbotError
from core.settings import Settings
from retrieval.turn_encoder import BACKENDS


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Start the assistant (REST channel, widget, health)."""
    from bot.workers import serve

    print(f"Shopbot on http://{settings.host}:{settings.port}"
          + (f" ({args.workers} workers)" if args.workers > 1 else ""), flush=True)
    serve(settings, args.workers)
    return 0


def cmd_prepare(settings: Settings, args: argparse.Namespace) -> int:
    """Build the demo shop tables from the transactions CSV."""
    from retrieval.prepare import prepare_shop

    report = prepare_shop(settings.transactions_csv, settings.shop_dir, progress=True)
    print(report)
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
    from retrieval.router import RouterConfig
    from retrieval.router_train import is_current

    entries = _entries(settings)
    config = RouterConfig.tiny() if args.tiny else RouterConfig()
    with _registry(settings) as registry:
        live = registry.live(ModelKind.ROUTER)
        serving = live.path if live is not None else settings.router_dir
        if not args.force and is_current(serving, entries):
            print(f"the live router was trained on this knowledge already ({serving}); "
                  "--force trains a candidate anyway")
            return 0
        same = [v for v in registry.versions(ModelKind.ROUTER) if v.state is ModelState.CANDIDATE
                and v.data_hash == data_hash(entries) and v.settings.get("router") == config.to_json()]
        if not args.force and same:
            print(f"candidate {same[0].version} was trained on this knowledge already; "
                  "--force trains another")
            return 0
        version = train_candidate(registry, entries, config=config, created_by=args.by, progress=True)
    held = version.metrics["training"]
    print(f"candidate {version.version}: {len(entries)} entries, threshold {held['threshold']:.3f}; "
          f"held out: in-scope accuracy {held.get('held_out_accuracy_at_threshold')}, out-of-scope "
          f"recall {held.get('held_out_oos_recall')}; trained in {version.metrics['train_s']:.0f} s")
    print(f"next: shopbot evaluate --candidate {version.version} && shopbot replay --candidate "
          f"{version.version} && shopbot deploy {version.version}")
    return 0


def _train_seed(settings: Settings, args: argparse.Namespace) -> int:
    """The seed router `shopbot setup` trains under var/router, served until a deploy."""
    from retrieval.router import RouterConfig
    from retrieval.router_train import is_current, train_router
    from retrieval.turn_encoder import export_onnx, onnx_is_current

    entries = _entries(settings)
    if not getattr(args, "force", False) and is_current(settings.router_dir, entries):
        if not onnx_is_current(settings.router_dir):
            print(f"exported for ONNX Runtime: {export_onnx(settings.router_dir)}")
        print(f"router already up to date: {settings.router_dir}")
        return 0
    config = RouterConfig.tiny() if getattr(args, "tiny", False) else RouterConfig()
    report = train_router(entries, settings.router_dir, config=config, progress=True)
    held = report.calibration
    print(
        f"router {report.version}: {report.n_entries} entries, {report.n_phrasings} phrasings, "
        f"threshold {report.threshold:.3f}; held out: in-scope accuracy "
        f"{held.get('held_out_accuracy_at_threshold')}, out-of-scope recall "
        f"{held.get('held_out_oos_recall')}; trained in {report.train_s:.0f} s"
    )
    print(f"exported for ONNX Runtime: {export_onnx(settings.router_dir)}")
    return 0


@contextmanager
def _registry(settings: Settings) -> Iterator[Any]:
    from bot.training.lifecycle import open_registry

    with open_registry(settings) as registry:
        yield registry


@contextmanager
def _lifecycle(settings: Settings) -> Iterator[Any]:
    """The lifecycle operations over the knowledge the bot answers from now."""
    from bot.training.lifecycle import open_lifecycle

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
    with _lifecycle(settings) as lifecycle:
        event = lifecycle.deploy(args.version, actor=args.by, force=args.force)
    print(f"{event.version} is live (was {event.previous or 'the seed router'}; "
          f"{'forced, ' if event.forced else ''}by {event.actor}); running workers swap to it within "
          f"{settings.model_check_every_s:g} s")
    return 0


def cmd_rollback(settings: Settings, args: argparse.Namespace) -> int:
    """Make the router (or generator) live before the current one live again."""
    from bot.lifecycle.registry import ModelKind

    with _lifecycle(settings) as lifecycle:
        event = lifecycle.rollback(actor=args.by, kind=ModelKind(args.kind))
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
        trained = (f"held-out accuracy {held.get('held_out_accuracy_at_threshold')} oos recall "
                   f"{held.get('held_out_oos_recall')}" if m.kind == "router"
                   else f"final loss {held.get('final_loss')}")
        print(f"{m.version:<39} {m.state:<9} {trained}{verdict}")
    for e in events:
        print(f"{e.ts:%Y-%m-%d %H:%M:%S} {e.action:<8} {e.version} (was {e.previous}) by {e.actor}"
              + (" forced" if e.forced else ""))
    return 0


def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    """Train a fresh router on a knowledge file and score it on labelled cases (one JSON object)."""
    import json
    import tempfile

    from bot.training.router_eval import evaluate_backends
    from retrieval.router import RouterConfig

    if args.faq is not None and args.rasa_project is not None:
        raise BadRequest("give --faq and --cases, or --rasa-project, not both")
    if args.faq is None and settings.rasa_project is not None:
        return _eval_rasa_project(settings, args)
    if args.faq is None or args.cases is None:
        raise BadRequest("give --faq FILE and --cases FILE, or --rasa-project PATH (with --folds N)")
    config = RouterConfig.tiny() if args.tiny else RouterConfig()
    backend = args.backend or settings.inference_backend
    backends = list(BACKENDS) if backend == "all" else [backend]
    with tempfile.TemporaryDirectory(prefix="shopbot-eval-") as work:
        results = evaluate_backends(args.faq, args.cases, work_dir=Path(work), config=config,
                                    progress=True, backends=backends,
                                    threads=settings.inference_threads)
    print(f"router served on {', '.join(backends)}", file=sys.stderr)
    # One backend keeps the flat object; "all" gives one object per backend, same router.
    result: dict[str, object] = dict(results) if backend == "all" else results[backend]
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


def cmd_setup(settings: Settings, args: argparse.Namespace) -> int:
    """Prepare what is missing: shop tables, indexes, router, generator, recommender."""
    from retrieval.prepare import is_prepared

    if not is_prepared(settings.shop_dir):
        cmd_prepare(settings, args)
    cmd_index(settings, args)
    if not settings.router_model:
        _train_seed(settings, args)
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


def cmd_logs_export(settings: Settings, args: argparse.Namespace) -> int:
    """Print the turn log as JSON lines or CSV."""
    from core.db import make_engine
    from monitoring.export import write_csv, write_jsonl
    from monitoring.turnlog import TurnLog

    engine = make_engine(settings.resolved_database_url())
    try:
        log = TurnLog(engine)
        log.create()
        writer = write_jsonl if args.format == "jsonl" else write_csv
        writer(log.records(args.conversation), sys.stdout)
    finally:
        engine.dispose()
    return 0


def cmd_eval_recommender(settings: Settings, args: argparse.Namespace) -> int:
    """Recall@10, NDCG@10 and coverage of the shipped recommender against popularity."""
    import json

    from actions.metrics import COMPARED, evaluate_recommender, leave_last_invoice_out, validation_split
    from actions.recommender import read_sales

    if args.transactions is not None:
        train, test = leave_last_invoice_out(read_sales(args.transactions))
    elif args.train is not None and args.test is not None:
        train, test = read_sales(args.train), read_sales(args.test)
    else:
        raise BadRequest("give --transactions FILE, or both --train FILE and --test FILE")
    if args.validation:
        # Tuning: held-out invoices carved from the training part only; the test rows are unread.
        train, test = validation_split(train, args.validation)
    result = evaluate_recommender(train, test, alternatives=COMPARED if args.compare else None)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"customers evaluated: {result['n_customers']}")
    base = result["popularity"]["recall_at_10"]
    fit_seconds = result.get("fit_seconds", {})
    for name, r in result.items():
        if isinstance(r, dict) and "recall_at_10" in r:
            ratio = r["recall_at_10"] / base if base else float("nan")
            fit = f"  fit {fit_seconds[name]:.1f}s" if name in fit_seconds else ""
            print(f"{name:>24}: recall@10 {r['recall_at_10']:.4f} ({ratio:.2f}x popularity)  "
                  f"ndcg@10 {r['ndcg_at_10']:.4f}  coverage {r['coverage']:.4f}{fit}")
    return 0


def cmd_customer_token(settings: Settings, args: argparse.Namespace) -> int:
    """Print the token that proves a customer id (what the shop's backend computes per page)."""
    from bot.engine.identity import sign, sign_jwt

    secret = settings.secret(settings.identity_secret_env)
    if secret is None:
        raise BadRequest(f"set the identity secret in ${settings.identity_secret_env} first")
    print(sign_jwt(secret, args.customer_id, args.ttl) if args.jwt else sign(secret, args.customer_id))
    return 0


def _eval_rasa_project(settings: Settings, args: argparse.Namespace) -> int:
    """Cross-validated intent accuracy, macro-F1 and decline rate of a Rasa project's NLU data."""
    import json
    import tempfile

    from bot.training.cross_validation import cross_validate
    from retrieval.rasa_project import load_rasa_project
    from retrieval.router import RouterConfig

    assert settings.rasa_project is not None
    backend = args.backend or settings.inference_backend
    if backend == "all":
        raise BadRequest("cross-validation scores one backend: give --backend onnx-int8, onnx-fp32 or torch")
    project = load_rasa_project(settings.rasa_project)
    config = RouterConfig.tiny() if args.tiny else RouterConfig()
    with tempfile.TemporaryDirectory(prefix="shopbot-cv-") as work:
        result = cross_validate(list(project.entries), folds=args.folds, work_dir=Path(work), config=config,
                                backend=backend, threads=settings.inference_threads, progress=True)
    result = {"project": str(project.root), **result}
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


def cmd_rasa_check(settings: Settings, args: argparse.Namespace) -> int:
    """List what of a Rasa project runs, and what is left out or runs differently (file:line)."""
    import json

    from retrieval.rasa_flows import UNSUPPORTED
    from retrieval.rasa_project import load_rasa_project

    project = load_rasa_project(args.path)
    unsupported = [i for i in project.issues if i.kind == UNSUPPORTED]
    if args.json:
        print(json.dumps({
            "project": str(project.root),
            "intents": sorted(project.labels),
            "answered": {k: list(v) for k, v in sorted(project.turns.items())},
            "action_server": project.action_endpoint or None,
            "actions_package": str(project.actions_path) if project.actions_path else None,
            "issues": [{"file": i.file, "line": i.line, "kind": i.kind, "message": i.message}
                       for i in project.issues],
        }))
    else:
        retrieval = sum("/" in label for label in project.labels)
        actions = project.action_endpoint or (f"in-process from {project.actions_path}"
                                              if project.actions_path else "none")
        print(f"{project.root}: {len(project.labels)} intents learned ({retrieval} retrieval intents), "
              f"{len(project.turns)} answered; custom actions: {actions}")
        for issue in project.issues:
            print(issue)
        print(f"{len(unsupported)} unsupported, {len(project.issues) - len(unsupported)} changed "
              "(docs/rasa.md)")
    return 1 if args.strict and unsupported else 0


Command = Callable[[Settings, argparse.Namespace], int]


def _timestamp(value: str) -> datetime:
    from datetime import UTC

    try:
        ts = datetime.fromisoformat(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from err
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _operator() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def build_parser() -> argparse.ArgumentParser:
    """All subcommands with their options."""
    parser = argparse.ArgumentParser(prog="shopbot", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Command) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=(fn.__doc__ or "").strip())
        p.set_defaults(func=fn)
        return p

    run = add("run", cmd_serve)
    # One process by default: on 2 cores its model thread and event loop already keep both
    # cores busy, and a second copy of the models costs memory (`bench/serving.py --workers 2`
    # measures the alternative).
    run.add_argument("--workers", type=int, default=1,
                     help="server processes sharing the port (more than 1 needs SHOPBOT_REDIS_URL)")
    add("prepare", cmd_prepare)
    add("index", cmd_index)
    train = add("train-generator", cmd_train_generator)
    train.add_argument("--tiny", action="store_true", help="a seconds-long model for tests")
    train_router = add("train", cmd_train)
    train_router.add_argument("--force", action="store_true",
                              help="train a candidate even if the live router knows this knowledge")
    train_router.add_argument("--tiny", action="store_true", help="a seconds-long router for tests")
    evaluate = add("evaluate", cmd_evaluate)
    evaluate.add_argument("--candidate", required=True, metavar="VERSION")
    evaluate.add_argument("--json", action="store_true", help="one JSON object")
    replay = add("replay", cmd_replay)
    replay.add_argument("--candidate", required=True, metavar="VERSION")
    replay.add_argument("--since", type=_timestamp, help="only messages from this time (ISO 8601)")
    replay.add_argument("--limit", type=int, help="the newest N shopper messages (default "
                        "SHOPBOT_REPLAY_LIMIT)")
    replay.add_argument("--json", action="store_true", help="one JSON object")
    deploy = add("deploy", cmd_deploy)
    deploy.add_argument("version")
    deploy.add_argument("--force", action="store_true", help="deploy even if it fails the gate")
    rollback = add("rollback", cmd_rollback)
    rollback.add_argument("--kind", choices=("router", "generator"), default="router")
    models = add("models", cmd_models)
    models.add_argument("--json", action="store_true", help="one JSON object")
    for command in (train_router, train, deploy, rollback):
        command.add_argument("--by", default=_operator(), help="who does it (recorded; default: $USER)")
    ev = add("eval", cmd_eval)
    ev.add_argument("--faq", type=Path, help="knowledge file to train on")
    ev.add_argument("--cases", type=Path, help="JSON lines {text, expected}")
    ev.add_argument("--folds", type=int, default=5,
                    help="with --rasa-project: cross-validate over this many stratified folds")
    ev.add_argument("--json", action="store_true", help="one JSON object on one line")
    ev.add_argument("--tiny", action="store_true", help="a seconds-long router (smoke tests)")
    ev.add_argument("--backend", choices=(*BACKENDS, "all"),
                    help="how the router is served (default: SHOPBOT_INFERENCE_BACKEND); "
                         "`all` trains once and scores every backend")
    setup = add("setup", cmd_setup)
    setup.add_argument("--tiny", action="store_true", help="tiny router and generator (tests)")
    rec = add("eval-recommender", cmd_eval_recommender)
    rec.add_argument("--transactions", type=Path,
                     help="one transactions CSV, split leave-last-invoice-out")
    rec.add_argument("--train", type=Path, help="transactions CSV to fit on")
    rec.add_argument("--test", type=Path, help="transactions CSV to score on")
    rec.add_argument("--json", action="store_true", help="one JSON object")
    rec.add_argument("--compare", action="store_true",
                     help="also score every method compared in docs/recommender.md")
    rec.add_argument("--validation", type=int, default=0, metavar="N",
                     help="score on a validation split instead: leave-last-invoice-out N more "
                          "times on the training part (for tuning)")
    token = add("customer-token", cmd_customer_token)
    token.add_argument("customer_id", help="the signed-in customer's id in the shop")
    token.add_argument("--jwt", action="store_true", help="an HS256 JWT instead of the HMAC hex digest")
    token.add_argument("--ttl", type=int, default=3600, help="JWT lifetime in seconds")
    logs = sub.add_parser("logs", help="the turn log").add_subparsers(dest="logs_cmd", required=True)
    export = logs.add_parser("export", help=(cmd_logs_export.__doc__ or "").strip())
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--conversation", help="only this conversation id")
    export.set_defaults(func=cmd_logs_export)
    check = add("rasa-check", cmd_rasa_check)
    check.add_argument("path", type=Path, help="the Rasa project's folder (domain.yml, data/, ...)")
    check.add_argument("--json", action="store_true", help="one JSON object")
    check.add_argument("--strict", action="store_true", help="exit 1 when anything is unsupported")
    for command in (run, train_router, ev):
        command.add_argument("--rasa-project", type=Path, metavar="PATH",
                             help="answer from this Rasa 3 project (overrides SHOPBOT_RASA_PROJECT)")
    add_users_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``shopbot`` console script."""
    args = build_parser().parse_args(argv)
    settings = Settings()
    if getattr(args, "rasa_project", None) is not None:
        settings = settings.model_copy(update={"rasa_project": args.rasa_project})
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.func is cmd_serve and settings.rasa_project is not None:
            from retrieval.rasa_project import load_rasa_project

            load_rasa_project(settings.rasa_project)  # a broken project fails here, not in a worker
        return int(args.func(settings, args))
    except (ShopbotError, OSError) as err:
        print(f"shopbot: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
