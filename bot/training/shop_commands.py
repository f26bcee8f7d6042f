"""The commands that bring in the shop's own data: the catalogue sync and the recommender refit
on the shop's order history (and its offline evaluation). Apart from serving, like
``bot/training/commands.py``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from core.errors import BadRequest
from core.settings import Settings


def cmd_catalogue_sync(settings: Settings, args: argparse.Namespace) -> int:
    """Read the catalogue source now and make the bot answer from it (running workers swap within
    seconds); refused input changes nothing."""
    import json

    from retrieval.catalogue.sync import sync_catalogue
    from retrieval.embeddings import sentence_encoder

    source = _source(settings)
    encoder = sentence_encoder(settings.inference_backend, settings.encoder_dir, settings.encoder_model,
                               settings.inference_threads)
    report = sync_catalogue(source, settings.shop_dir, settings.index_dir, encoder, force=args.force)
    if args.json:
        print(json.dumps({**{k: v for k, v in vars(report).items() if k != "skipped"},
                          "skipped": list(report.skipped)}))
        return 0
    print(report.summary())
    for line in report.skipped[:20]:
        print(f"  skipped {line}", file=sys.stderr)
    if len(report.skipped) > 20:
        print(f"  ... and {len(report.skipped) - 20} more skipped", file=sys.stderr)
    return 0


def sync_if_switched(settings: Settings) -> None:
    """Sync the catalogue when the source set is not the one the catalogue was synced from."""
    from retrieval.catalogue.store import read_meta

    if read_meta(settings.shop_dir).get("source") != _source(settings).name:
        cmd_catalogue_sync(settings, argparse.Namespace(force=True, json=False))


def _source(settings: Settings) -> Any:
    """The catalogue source the settings name (``retrieval.catalogue.choose``)."""
    from retrieval.catalogue.choose import catalogue_source

    return catalogue_source(settings.catalogue_source, settings.shop_dir,
                            settings.secret(settings.catalogue_secret_env), settings.catalogue_secret_env,
                            settings.shop_url or None, settings.shop_currency or None)


def cmd_refit_recommender(settings: Settings, args: argparse.Namespace) -> int:
    """Refit the recommender on the order history, gate it, and deploy it when it passes."""
    if not getattr(args, "every", 0):
        return _refit_recommender(settings, args)
    import logging
    import time

    # The schedule: a process of its own (a cron job or a compose service), never the server's.
    while True:
        try:
            _refit_recommender(settings, args)
        except Exception:  # noqa: BLE001 - the next round tries again; the live version keeps serving
            logging.getLogger(__name__).exception("recommender refit failed")
        time.sleep(args.every)


def _history(settings: Settings, given: str | Path | None) -> Any:
    """The order history ``spec`` names: a file (.jsonl export or transactions CSV), or
    ``oscar:BASE_URL``; by default the shop's platform when the orders come from one."""
    from actions.order_history import ReadHistory, history_at

    spec = str(given) if given else (settings.orders_source if settings.orders_source.startswith("oscar:")
                                     else None)
    if spec is None:
        return history_at(settings.transactions_csv)
    if spec.startswith("oscar:"):
        from functools import partial

        from actions.orders.oscar_history import read_order_history

        token = settings.secret(settings.orders_secret_env)
        if token is None:
            raise BadRequest("reading oscar's orders needs the staff API token in "
                             f"${settings.orders_secret_env}")
        url = spec.removeprefix("oscar:")
        return ReadHistory(spec, partial(read_order_history, url, token.decode()))
    return history_at(Path(spec))


def _refit_recommender(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from bot.training.recommender_refit import refit_recommender
    from core.shop import load_products
    from retrieval.prepare import is_prepared

    history = _history(settings, args.history)
    # The catalogue's products only: a recommendation the shop cannot show is no answer.
    catalogue = ({p.stock_code for p in load_products(settings.shop_dir)}
                 if is_prepared(settings.shop_dir) else None)
    from bot.training.assemble import open_registry

    with open_registry(settings) as registry:
        result = refit_recommender(registry, history, catalogue, actor=args.by, deploy=args.deploy,
                                   force=args.force)
    if args.json:
        print(json.dumps({"version": result.version.to_json() if result.version else None,
                          "report": result.report, "skipped": result.skipped,
                          "event": result.event.to_json() if result.event else None}))
    elif result.skipped or result.version is None or result.report is None:
        print(f"not refitted: {result.skipped}; --force fits a new candidate anyway")
    else:
        figures = result.report["metrics"]
        print(f"candidate {result.version.version} on {history.name}: held-out recall@10 "
              f"{figures['candidate']['recall_at_10']:.4f} (live {result.report['live']} "
              f"{figures['live']['recall_at_10']:.4f}, popularity "
              f"{figures['popularity']['recall_at_10']:.4f}), "
              f"{result.report['held_out_customers']} customers")
        failed = [c["name"] for c in result.report["checks"] if not c["passed"]]
        print("deployed" if result.deployed else
              f"gate FAILED ({', '.join(failed)}): the live version keeps serving" if failed else
              f"gate passed: shopbot deploy {result.version.version}")
    # Exit 1 when the gate refused it, so a schedule notices.
    return 1 if result.report is not None and not result.report["passed"] else 0


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


