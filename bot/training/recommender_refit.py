"""Refit the recommender on the shop's order history, gate it, and deploy it when it passes.

``refit_recommender`` is the one operation a schedule and ``shopbot refit-recommender`` both
run: read the history, keep the catalogue's products, fit a candidate, register it (arrays and
manifest through the registry's atomic, verified artifacts), load it back from its verified
files, run the gate (:mod:`bot.training.recommender_gate`), store the verdict on the version,
and make it live when it passes. A candidate that fails stays a candidate and the live version
keeps serving; the failure is logged with its figures.

Until the first deploy the bot serves the fit of the transactions CSV with the default config
(the *seed*); the gate compares a candidate with that config then.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from actions.order_history import OrderHistory
from actions.recommender import Recommender, RecommenderConfig, Sale, normalise_stock_code
from actions.recommender_store import config_from_json, save_version
from bot.lifecycle.recommender import load_recommender
from bot.lifecycle.registry import (
    ModelAction,
    ModelEvent,
    ModelKind,
    ModelRegistry,
    ModelState,
    ModelVersion,
)
from bot.training.recommender_gate import RecommenderGateThresholds, gate_recommender
from core.errors import BadRequest, Conflict, NotReady

log = logging.getLogger(__name__)

KIND = ModelKind.RECOMMENDER
# What serves before any deploy: the CSV's fit with the default config (ShopServices.load).
SEED = "seed"


@dataclass(frozen=True)
class RefitResult:
    """What a refit did: the version it made or reused, the gate's report, the deploy event.

    ``skipped`` says why nothing was fitted or gated (then ``version`` is the existing one).
    """

    version: ModelVersion | None
    report: dict[str, Any] | None
    event: ModelEvent | None
    skipped: str | None = None

    @property
    def deployed(self) -> bool:
        """Whether this refit made its version live."""
        return self.event is not None


def data_hash(sales: Sequence[Sale], catalogue: Collection[str] | None) -> str:
    """sha256 over every sales line (in order) and the catalogue's sorted codes."""
    digest = hashlib.sha256()
    digest.update(json.dumps(sorted(catalogue) if catalogue is not None else None).encode())
    for s in sales:
        # Fields spelt out: ``dataclasses.astuple`` costs seconds on half a million lines.
        row = [s.invoice, s.stock_code, s.customer_id, s.quantity, s.date, s.description]
        digest.update(json.dumps(row).encode() + b"\n")
    return digest.hexdigest()


def catalogue_sales(history: OrderHistory, catalogue: Collection[str] | None) -> list[Sale]:
    """The history's sales of the catalogue's products (all of them without a catalogue)."""
    sales = history.sales()
    if catalogue is not None:
        known = {normalise_stock_code(c) for c in catalogue}
        sales = [s for s in sales if s.stock_code in known]
    if not sales:
        raise NotReady(f"{history.name} holds no sales of the catalogue's products")
    return sales


def live_config(registry: ModelRegistry) -> tuple[str, RecommenderConfig]:
    """The live version's name and config; the seed's (the default config) before any deploy."""
    live = registry.live(KIND)
    if live is None:
        return SEED, RecommenderConfig()
    return live.version, config_from_json(live.settings.get("recommender"))


def fit_candidate(
    registry: ModelRegistry,
    sales: Sequence[Sale],
    *,
    config: RecommenderConfig,
    data: str,
    history: str,
    catalogue_size: int | None,
    created_by: str,
) -> ModelVersion:
    """Fit ``config`` on all of ``sales`` and register the result as a candidate."""
    start = time.perf_counter()
    model = Recommender(config).fit(sales)
    fit_s = time.perf_counter() - start
    training = {"sales": len(sales), "invoices": len({s.invoice for s in sales}),
                "items": len(model.codes), "customers": len(model.customers)}
    with registry.staged(KIND) as staging:
        save_version(model, staging, {"data_hash": data, "history": history, **training})
        return registry.register(
            KIND, staging, data_hash=data,
            settings={"recommender": asdict(config), "history": history,
                      "catalogue_codes": catalogue_size},
            metrics={"training": training, "fit_s": round(fit_s, 2)},
            created_by=created_by,
        )


def evaluate_candidate(
    registry: ModelRegistry,
    version: ModelVersion,
    sales: Sequence[Sale],
    thresholds: RecommenderGateThresholds,
) -> dict[str, Any]:
    """Run the gate on a registered candidate and store the report on it (``evaluation``).

    The candidate's files are verified and loaded first: a version that could not be served is
    not worth judging (``NotReady``).
    """
    load_recommender(registry, version)
    live_name, live = live_config(registry)
    config = config_from_json(version.settings.get("recommender"))
    report = gate_recommender(sales, config, live, thresholds, names=(version.version, live_name))
    registry.update_metrics(version.version, {"evaluation": report})
    return report


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    """What a deploy event records of the gate."""
    return {"passed": report.get("passed"), "metrics": report.get("metrics"),
            "checks": report.get("checks")}


def _already(registry: ModelRegistry, data: str, config: RecommenderConfig) -> ModelVersion | None:
    """The newest version fitted with this config on this data, if any."""
    settings = asdict(config)
    return next((v for v in registry.versions(KIND)
                 if v.data_hash == data and v.settings.get("recommender") == settings), None)


def refit_recommender(
    registry: ModelRegistry,
    history: OrderHistory,
    catalogue: Collection[str] | None,
    *,
    config: RecommenderConfig | None = None,
    thresholds: RecommenderGateThresholds | None = None,
    actor: str = "schedule",
    deploy: bool = True,
    force: bool = False,
) -> RefitResult:
    """Fit a candidate on ``history``, gate it, and make it live when it passes (blocking).

    ``catalogue`` restricts the sales to the shop's products (None: every product sold).
    ``config`` defaults to the code's default blend. When a version with this config was
    fitted on exactly this data already, nothing is fitted: a candidate is gated again (the
    live version may have changed), a version that was live before is left alone (a rollback
    away from it stands until the data changes), and the live one is kept; ``force`` fits a
    new candidate anyway. ``deploy=False`` only registers and gates.
    """
    config = config or RecommenderConfig()
    thresholds = thresholds or RecommenderGateThresholds()
    sales = catalogue_sales(history, catalogue)
    data = data_hash(sales, catalogue)
    existing = None if force else _already(registry, data, config)
    if existing is not None and existing.state is not ModelState.CANDIDATE:
        why = ("it is live" if existing.state is ModelState.LIVE
               else "it was live before and has been replaced or rolled back")
        log.info("recommender not refitted: %s was fitted on this data already and %s",
                 existing.version, why)
        return RefitResult(existing, None, None, skipped=f"{existing.version}: {why}")
    candidate = existing or fit_candidate(
        registry, sales, config=config, data=data, history=history.name,
        catalogue_size=len(catalogue) if catalogue is not None else None, created_by=actor)
    report = evaluate_candidate(registry, candidate, sales, thresholds)
    if not report["passed"]:
        failed = [c["name"] for c in report["checks"] if not c["passed"]]
        log.warning("recommender %s fails the gate (%s), %s keeps serving: %s",
                    candidate.version, ", ".join(failed), report["live"],
                    json.dumps(report["metrics"]))
        return RefitResult(registry.get(candidate.version), report, None)
    event = None
    if deploy:
        event = registry.set_live(candidate.version, actor=actor, action=ModelAction.DEPLOY,
                                  metrics=_summary(report))
        log.info("recommender %s live (was %s), by %s: %s", candidate.version,
                 event.previous or SEED, actor, json.dumps(report["metrics"]))
    return RefitResult(registry.get(candidate.version), report, event)


def deploy_recommender(registry: ModelRegistry, version: str, *, actor: str,
                       force: bool = False) -> ModelEvent:
    """Make a recommender candidate live on the verdict its refit stored (``shopbot deploy``).

    The verdict must be a pass judged against the version live now; anything else is refused
    unless ``force`` (recorded). Run ``refit_recommender`` again to re-judge a candidate.
    """
    found = registry.get(version)
    if found.kind is not KIND:
        raise BadRequest(f"{version} is a {found.kind}, not a recommender")
    registry.verify(found)
    report = found.metrics.get("evaluation") or {}
    live_name = live_config(registry)[0]
    problem = ("was never gated" if not report
               else "fails the gate" if not report.get("passed")
               else f"was judged against {report.get('live')}, but {live_name} is live now"
               if report.get("live") != live_name else None)
    if problem is not None and not force:
        raise Conflict(f"{version} {problem}: run `shopbot refit-recommender` to gate it again, "
                       "or deploy with --force to override")
    return registry.set_live(version, actor=actor, action=ModelAction.DEPLOY, forced=force,
                             metrics=_summary(report))
