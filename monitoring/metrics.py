"""Prometheus metrics of the bot, each instance on its own registry (``bot.web.ops`` serves ``/metrics``).

Labels are small fixed sets only (route, stage, flag, feedback value, error code, handoff
state and reason, model kind, live model version, baseline metric); conversation and turn ids
never become labels.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from core.errors import ShopbotError
from core.turns import STAGES, Flag, Route, TurnRecord
from monitoring.flags import NOT_ROUTED

# Seconds; 2.0 is the `slow` flag's default threshold, 8.0 the generation time limit.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
WAIT_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
WORKERS = ("turn", "encode")
# Router confidence is sigmoid(score - calibrated threshold): 0.5 is the decline boundary and
# 0.6 the `low_confidence` flag's default.
CONFIDENCE_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
MODEL_KINDS = ("router", "generator")
SWAP_ACTIONS = ("start", "deploy", "rollback")
CATALOGUE_SYNC_RESULTS = ("changed", "unchanged", "failed")
# The rates a live model's baseline may hold (monitoring/prometheus/alerts.yml judges drift by them).
BASELINE_METRICS = (
    "decline_rate", "unfamiliar_share", "low_confidence_share", "thumbs_down_rate", "ungrounded_rate",
)
FEEDBACK_VALUES = ("up", "down")
OTHER = "other"
_LABEL_VALUE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_LABEL_NAME = re.compile(r"[^a-zA-Z0-9_]")


def error_kinds() -> frozenset[str]:
    """The codes of every ``ShopbotError`` class loaded so far, plus ``internal_error``."""
    kinds = {ShopbotError.code}
    pending: list[type[ShopbotError]] = [ShopbotError]
    while pending:
        for sub in pending.pop().__subclasses__():
            kinds.add(sub.code)
            pending.append(sub)
    return frozenset(kinds)


def _bounded(value: str, known: Iterable[str]) -> str:
    # A label value outside a known set would let callers grow the series count without limit.
    return value if value in known else OTHER


class ShopbotMetrics:
    """Every Shopbot metric; ``registry`` is what ``/metrics`` serves."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        reg = self.registry
        self.turn_duration = Histogram(
            "shopbot_turn_duration_seconds",
            "Whole-turn latency by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.stage_duration = Histogram(
            "shopbot_stage_duration_seconds",
            "Latency of one pipeline stage (embed, search, route, action, generate).",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.turns = Counter("shopbot_turns", "Turns answered, by route.", ["route"], registry=reg)
        self.flags = Counter("shopbot_turn_flags", "Quality flags raised, by flag.", ["flag"], registry=reg)
        self.feedback = Counter("shopbot_feedback", "Shopper thumbs up/down.", ["value"], registry=reg)
        self.errors = Counter(
            "shopbot_errors", "Failures outside the turn log, by error code.", ["kind"], registry=reg
        )
        self.handoffs_current = Gauge(
            "shopbot_handoffs_current", "Handoffs now in each state.", ["state"], registry=reg
        )
        self.handoff_queue = Gauge(
            "shopbot_handoff_queue_length", "Conversations waiting for a person.", registry=reg
        )
        self.handoffs = Counter("shopbot_handoffs", "Handoffs opened, by reason.", ["reason"], registry=reg)
        self.versions = Info("shopbot_versions", "Versions of the loaded models and indexes.", registry=reg)
        self.batch_size = Histogram(
            "shopbot_batch_size", "Texts per model batch, by model worker.", ["worker"],
            buckets=BATCH_BUCKETS, registry=reg,
        )
        self.batch_wait = Histogram(
            "shopbot_batch_queue_wait_seconds", "How long a batch's oldest request queued, by model worker.",
            ["worker"], buckets=WAIT_BUCKETS, registry=reg,
        )
        self.router_confidence = Histogram(
            "shopbot_router_confidence",
            "Router confidence of the turns the bot routed (0.5 = the calibrated decline boundary).",
            buckets=CONFIDENCE_BUCKETS, registry=reg,
        )
        self.model_live = Info(
            "shopbot_model_live", "The model version serving traffic, by model kind.", ["kind"], registry=reg
        )
        self.model_live_since = Gauge(
            "shopbot_model_live_since_timestamp_seconds",
            "When the live version of each model kind started serving on this worker.",
            ["kind"], registry=reg,
        )
        self.model_swaps = Counter(
            "shopbot_model_swaps", "Model versions swapped in, by kind and action (start, deploy, rollback).",
            ["kind", "action"], registry=reg,
        )
        self.model_swap_failures = Counter(
            "shopbot_model_swap_failures", "Model versions that failed to load and were not swapped in.",
            ["kind"], registry=reg,
        )
        self.model_baseline_gauge = Gauge(
            "shopbot_model_baseline",
            "The live model's expected rates on the shop's traffic, which drift is judged against.",
            ["kind", "metric"], registry=reg,
        )
        self.catalogue_syncs = Counter(
            "shopbot_catalogue_syncs", "Catalogue syncs from the shop's source, by result "
            "(changed, unchanged, failed).", ["result"], registry=reg,
        )
        self.catalogue_products = Gauge(
            "shopbot_catalogue_products", "Products in the catalogue this worker answers from.", registry=reg,
        )
        self.catalogue_live_since = Gauge(
            "shopbot_catalogue_live_since_timestamp_seconds",
            "When the catalogue this worker answers from was swapped in.", registry=reg,
        )
        self._error_kinds = error_kinds() | {OTHER}
        self._known_versions: dict[str, str] = {}
        self._live: dict[str, str] = {}
        self._baselines: dict[str, dict[str, float]] = {}
        self._zero_known_series()

    def _zero_known_series(self) -> None:
        # Series that exist from the start make rates and dashboards work before the first event.
        for route in Route:
            self.turn_duration.labels(route=str(route))
            self.turns.labels(route=str(route))
        for stage in STAGES:
            if stage != "total":
                self.stage_duration.labels(stage=stage)
        for flag in Flag:
            self.flags.labels(flag=str(flag))
        for value in FEEDBACK_VALUES:
            self.feedback.labels(value=value)
        for kind in self._error_kinds:
            self.errors.labels(kind=kind)
        for worker in WORKERS:
            self.batch_size.labels(worker=worker)
            self.batch_wait.labels(worker=worker)
        for kind in MODEL_KINDS:
            self._zero_model_series(kind)

    def _zero_model_series(self, kind: str) -> None:
        for action in (*SWAP_ACTIONS, OTHER):
            self.model_swaps.labels(kind=kind, action=action)
        self.model_swap_failures.labels(kind=kind)

    def observe_turn(self, record: TurnRecord) -> None:
        """Count one logged turn: route, latencies, flags (and versions when they changed)."""
        route = str(record.route)
        self.turns.labels(route=route).inc()
        total_ms = record.latency_ms.get("total")
        if total_ms is not None:
            self.turn_duration.labels(route=route).observe(total_ms / 1000)
        for stage, ms in record.latency_ms.items():
            if stage != "total":
                name = stage if _LABEL_VALUE.match(stage) else OTHER
                self.stage_duration.labels(stage=name).observe(ms / 1000)
        for flag in record.flags:
            self.flags.labels(flag=str(flag)).inc()
        confidence = record.metadata.get("confidence")
        if record.route not in NOT_ROUTED and isinstance(confidence, int | float):
            self.router_confidence.observe(float(confidence))
        if record.versions and record.versions != self._known_versions:
            self.set_versions(record.versions)

    def observe_batch(self, worker: str, size: int, waited_s: float) -> None:
        """Count one model batch: how many texts, and how long its oldest one queued."""
        name = _bounded(worker, WORKERS)
        self.batch_size.labels(worker=name).observe(size)
        self.batch_wait.labels(worker=name).observe(waited_s)

    def observe_feedback(self, value: int | str) -> None:
        """Count a thumbs up (``"up"`` or a positive number) or down (``"down"`` or negative)."""
        if isinstance(value, str):
            if value not in FEEDBACK_VALUES:
                raise ValueError(f"feedback must be one of {FEEDBACK_VALUES}, not {value!r}")
            label = value
        else:
            if value == 0:
                raise ValueError("feedback must be positive (up) or negative (down), not 0")
            label = "up" if value > 0 else "down"
        self.feedback.labels(value=label).inc()

    def observe_error(self, kind: str) -> None:
        """Count a failure by its ``ShopbotError.code``; unknown codes count as ``other``."""
        self.errors.labels(kind=_bounded(kind, self._error_kinds)).inc()

    def set_handoffs(self, counts_by_state: Mapping[str, int]) -> None:
        """Replace the per-state handoff gauge; states missing from the mapping drop out."""
        self.handoffs_current.clear()
        for state, count in counts_by_state.items():
            self.handoffs_current.labels(state=_label_value(state)).set(count)

    def set_handoff_queue_length(self, length: int) -> None:
        """Conversations now waiting for a person."""
        self.handoff_queue.set(length)

    def observe_handoff(self, reason: str) -> None:
        """Count one handoff opened for ``reason`` (a short fixed code, e.g. ``requested``)."""
        self.handoffs.labels(reason=_label_value(reason)).inc()

    def set_live_model(self, kind: str, version: str) -> None:
        """Publish the version of ``kind`` now serving; the kind's previous version drops out."""
        kind = self._model_kind(kind)
        if self._live.get(kind) == version:
            return
        self._live[kind] = version
        self.model_live.labels(kind=kind).info({"version": str(version)})
        self.model_live_since.labels(kind=kind).set(time.time())

    def observe_catalogue_sync(self, result: str) -> None:
        """Count one catalogue sync: ``changed``, ``unchanged`` or ``failed``."""
        self.catalogue_syncs.labels(result=_bounded(result, CATALOGUE_SYNC_RESULTS)).inc()

    def set_catalogue(self, products: int, version: str) -> None:
        """Publish the size of the catalogue now answering (its version is on every turn)."""
        self.catalogue_products.set(products)
        self.catalogue_live_since.set(time.time())

    def observe_model_swap(self, kind: str, action: str) -> None:
        """Count one version swapped in: at ``start``, by a ``deploy`` or by a ``rollback``."""
        self.model_swaps.labels(kind=self._model_kind(kind), action=_bounded(action, SWAP_ACTIONS)).inc()

    def observe_model_swap_failure(self, kind: str) -> None:
        """Count a version that failed to load (the worker kept serving the previous one)."""
        self.model_swap_failures.labels(kind=self._model_kind(kind)).inc()

    def set_model_baseline(self, kind: str, baseline: Mapping[str, float]) -> None:
        """Replace the live ``kind`` model's baseline rates; keys outside ``BASELINE_METRICS`` are ignored."""
        kind = self._model_kind(kind)
        kept = {k: float(v) for k, v in baseline.items() if k in BASELINE_METRICS}
        for metric in self._baselines.get(kind, {}):
            self.model_baseline_gauge.remove(kind, metric)
        for metric, value in kept.items():
            self.model_baseline_gauge.labels(kind=kind, metric=metric).set(value)
        self._baselines[kind] = kept

    def model_baseline(self, kind: str) -> dict[str, float]:
        """The baseline rates last set for ``kind`` (empty when none was)."""
        return dict(self._baselines.get(kind, {}))

    def _model_kind(self, kind: str) -> str:
        # Kinds are the lifecycle's own names (not user input); a new one starts its series at zero.
        kind = _label_value(kind)
        self._zero_model_series(kind)
        return kind

    def set_versions(self, versions: Mapping[str, str]) -> None:
        """Publish model and index versions as ``shopbot_versions_info`` labels."""
        self._known_versions = dict(versions)
        self.versions.info({_label_name(k): str(v) for k, v in versions.items()})


def _label_value(value: str) -> str:
    if not _LABEL_VALUE.match(value):
        raise ValueError(f"label value must match {_LABEL_VALUE.pattern}: {value!r}")
    return value


def _label_name(key: str) -> str:
    name = _LABEL_NAME.sub("_", key)
    return name if name[:1].isalpha() else f"v_{name}"
