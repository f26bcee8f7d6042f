"""The ``shopbot`` command line: serving, the turn log and the Rasa check here; building, training,
evaluating and deploying in ``bot/training/commands.py``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from bot.auth.cli import add_parser as add_users_parser
from bot.training import commands as training
from bot.training import shop_commands
from core.errors import BadRequest, NotReady, ShopbotError
from core.settings import Settings
from retrieval.router import PROFILES
from retrieval.turn_encoder import BACKENDS


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Start the assistant (REST channel, widget, health)."""
    from bot.workers import serve
    from retrieval.prepare import is_prepared

    valid = args.workers == 1 or (args.workers > 1 and bool(settings.redis_url))  # else serve() says why
    if valid and not is_prepared(settings.shop_dir):
        # `shopbot setup` is the one command that builds everything `run` serves (for a Rasa project
        # too): shop tables, indexes, the seed router and generator; `train` only makes a candidate.
        raise NotReady(f"nothing is built under {settings.var_dir} yet: run `shopbot setup` first"
                       + (" (with the same SHOPBOT_RASA_PROJECT)" if settings.rasa_project else ""))
    print(f"Shopbot on http://{settings.host}:{settings.port}"
          + (f" ({args.workers} workers)" if args.workers > 1 else ""), flush=True)
    serve(settings, args.workers)
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


def cmd_customer_token(settings: Settings, args: argparse.Namespace) -> int:
    """Print the token that proves a customer id (what the shop's backend computes per page).

    ``<unix ts>.<hex HMAC-SHA256(secret, "<id>.<ts>")>``, good for
    ``SHOPBOT_IDENTITY_TOKEN_MAX_AGE_S``; with ``--jwt`` an HS256 JWT living ``--ttl`` seconds.
    """
    from bot.engine.identity import sign, sign_jwt

    secret = settings.secret(settings.identity_secret_env)
    if secret is None:
        raise BadRequest(f"set the identity secret in ${settings.identity_secret_env} first")
    print(sign_jwt(secret, args.customer_id, args.ttl) if args.jwt else sign(secret, args.customer_id))
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
            # Intents answered only after what their rules and stories say comes before them.
            "in_context": sorted(set(project.continuations) - set(project.turns)),
            "action_server": project.action_endpoint or None,
            "actions_package": str(project.actions_path) if project.actions_path else None,
            "issues": [{"file": i.file, "line": i.line, "kind": i.kind, "message": i.message}
                       for i in project.issues],
        }))
    else:
        retrieval = sum("/" in label for label in project.labels)
        in_context = set(project.continuations) - set(project.turns)
        actions = project.action_endpoint or (f"in-process from {project.actions_path}"
                                              if project.actions_path else "none")
        print(f"{project.root}: {len(project.labels)} intents learned ({retrieval} retrieval intents), "
              f"{len(project.turns)} answered, {len(in_context)} more in context only; "
              f"custom actions: {actions}")
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
    add("prepare", training.cmd_prepare)
    add("index", training.cmd_index)
    train = add("train-generator", training.cmd_train_generator)
    train.add_argument("--tiny", action="store_true", help="a seconds-long model for tests")
    train_router = add("train", training.cmd_train)
    train_router.add_argument("--force", action="store_true",
                              help="train a candidate even if the live router knows this knowledge")
    train_router.add_argument("--tiny", action="store_true", help="a seconds-long router for tests")
    profile_help = "router profile: fast (MiniLM) or accurate (with all-mpnet-base-v2); default: " \
        "SHOPBOT_ROUTER_PROFILE"
    train_router.add_argument("--profile", choices=PROFILES, help=profile_help)
    evaluate = add("evaluate", training.cmd_evaluate)
    evaluate.add_argument("--candidate", required=True, metavar="VERSION")
    evaluate.add_argument("--json", action="store_true", help="one JSON object")
    replay = add("replay", training.cmd_replay)
    replay.add_argument("--candidate", required=True, metavar="VERSION")
    replay.add_argument("--since", type=_timestamp, help="only messages from this time (ISO 8601)")
    replay.add_argument("--limit", type=int, help="the newest N shopper messages (default "
                        "SHOPBOT_REPLAY_LIMIT)")
    replay.add_argument("--json", action="store_true", help="one JSON object")
    deploy = add("deploy", training.cmd_deploy)
    deploy.add_argument("version")
    deploy.add_argument("--force", action="store_true", help="deploy even if it fails the gate")
    rollback = add("rollback", training.cmd_rollback)
    rollback.add_argument("--kind", choices=("router", "generator", "recommender"), default="router")
    models = add("models", training.cmd_models)
    models.add_argument("--json", action="store_true", help="one JSON object")
    refit = add("refit-recommender", shop_commands.cmd_refit_recommender)
    refit.add_argument("--history", metavar="PATH_OR_SOURCE",
                       help="an order export (.jsonl), a transactions CSV, or oscar:BASE_URL (default: "
                            "the shop's platform when SHOPBOT_ORDERS_SOURCE is one, else "
                            "SHOPBOT_TRANSACTIONS_CSV)")
    refit.add_argument("--no-deploy", dest="deploy", action="store_false", help="register and gate only")
    refit.add_argument("--force", action="store_true", help="fit a new candidate even on unchanged data")
    refit.add_argument("--json", action="store_true", help="one JSON object")
    refit.add_argument("--every", type=float, default=0, metavar="SECONDS",
                       help="refit again every SECONDS, forever (a schedule; 0: once)")
    for command in (train_router, train, deploy, rollback, refit):
        command.add_argument("--by", default=_operator(), help="who does it (recorded; default: $USER)")
    ev = add("eval", training.cmd_eval)
    ev.add_argument("--faq", type=Path, help="knowledge file to train on")
    ev.add_argument("--cases", type=Path, help="JSON lines {text, expected}")
    ev.add_argument("--folds", type=int, default=5,
                    help="with --rasa-project: cross-validate over this many stratified folds")
    ev.add_argument("--json", action="store_true", help="one JSON object on one line")
    ev.add_argument("--misses", type=Path, metavar="FILE",
                    help="write each wrongly answered case here (JSON lines: backend, text, "
                         "expected, answered)")
    ev.add_argument("--tiny", action="store_true", help="a seconds-long router (smoke tests)")
    ev.add_argument("--seed", type=int,
                    help="train with this seed instead of the shipped one (0): how much a figure "
                         "moves with the training's randomness alone")
    ev.add_argument("--no-catalogue", action="store_true",
                    help="search the knowledge file alone, not the shop's catalogue beside it")
    ev.add_argument("--backend", choices=(*BACKENDS, "all"),
                    help="how the router is served (default: SHOPBOT_INFERENCE_BACKEND); "
                         "`all` trains once and scores every backend")
    setup = add("setup", training.cmd_setup)
    setup.add_argument("--tiny", action="store_true", help="tiny router and generator (tests)")
    ev.add_argument("--profile", choices=PROFILES, help=profile_help)
    rec = add("eval-recommender", shop_commands.cmd_eval_recommender)
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
    catalogue = sub.add_parser("catalogue", help="the shop's catalogue (SHOPBOT_CATALOGUE_SOURCE)")
    catalogue_sub = catalogue.add_subparsers(dest="catalogue_cmd", required=True)
    sync = catalogue_sub.add_parser("sync", help=(shop_commands.cmd_catalogue_sync.__doc__ or "").strip())
    sync.add_argument("--force", action="store_true",
                      help="accept a sync that removes more than half of the products served")
    sync.add_argument("--json", action="store_true", help="one JSON object")
    sync.set_defaults(func=shop_commands.cmd_catalogue_sync)
    logs = sub.add_parser("logs", help="the turn log").add_subparsers(dest="logs_cmd", required=True)
    export = logs.add_parser("export", help=(cmd_logs_export.__doc__ or "").strip())
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--conversation", help="only this conversation id")
    export.set_defaults(func=cmd_logs_export)
    check = add("rasa-check", cmd_rasa_check)
    check.add_argument("path", type=Path, help="the Rasa project's folder (domain.yml, data/, ...)")
    check.add_argument("--json", action="store_true", help="one JSON object")
    check.add_argument("--strict", action="store_true", help="exit 1 when anything is unsupported")
    for command in (run, train_router, ev, setup):
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
