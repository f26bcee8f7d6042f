"""The lifecycle's operations, shared by the CLI and the admin API.

``train_candidate`` / ``train_generator_candidate`` register candidates; ``evaluate`` runs the
gate; ``replay`` runs recent traffic through a router; ``deploy`` and ``rollback`` change the
live version in the registry, which every worker follows within ``SHOPBOT_MODEL_CHECK_EVERY_S``
(:mod:`bot.lifecycle.live`). All of them block: the API calls them on a thread.

Before the first deploy of a kind the bot serves its *seed* model, the one ``shopbot setup``
trained (``var/router``, ``var/generator``); that first deploy registers the seed as a version
of its own, so a rollback has somewhere to go.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.engine.policy import RoutingThresholds
from bot.generation.backends import gpt2_generator
from bot.generation.service import Generator
from bot.generation.versions import checkpoint_version
from bot.lifecycle.artifacts import copy_into
from bot.lifecycle.registry import (
    FAST_DIR,
    MODEL_DIR,
    ModelAction,
    ModelEvent,
    ModelKind,
    ModelRegistry,
    ModelState,
    ModelVersion,
)
from bot.training.gate import GateThresholds, evaluate
from bot.training.generator_gate import evaluate_generator, load_probes, reference_answers
from bot.training.gold import gold_cases
from bot.training.offline import OfflineRouter
from bot.training.replay import recent_messages, replay
from core.errors import BadRequest, Conflict, NotReady
from monitoring.flags import FlagThresholds
from retrieval.knowledge import KnowledgeEntry
from retrieval.knowledge_base import KnowledgeBase
from retrieval.mpnet import second_encoder
from retrieval.router import RouterConfig, load_saved
from retrieval.router_train import train_router
from retrieval.turn_encoder import TurnEncoder, export_onnx, turn_encoder

if TYPE_CHECKING:  # training imports torch and transformers: seconds a serving worker never needs
    from bot.training.generator import TrainConfig

SEED = "seed"


@dataclass(frozen=True)
class GeneratorConfig:
    """How generators are served and judged."""

    seed_dir: Path
    seed_cache: Path
    backend: str = "onnx-int8"
    threads: int = 1
    max_new_tokens: int = 60
    timeout_s: float = 8.0
    probes: Path | None = None
    probe_limit: int = 40
    max_drop: float = 5.0
    max_loss_rise: float = 0.5


@dataclass(frozen=True)
class LifecycleConfig:
    """What the operations need besides the registry and the knowledge base."""

    seed_dir: Path
    backend: str = "onnx-int8"
    threads: int = 1
    routing: RoutingThresholds = RoutingThresholds()  # noqa: RUF009 - frozen
    flags: FlagThresholds = FlagThresholds()  # noqa: RUF009 - frozen
    gate: GateThresholds = GateThresholds()  # noqa: RUF009 - frozen
    replay_limit: int = 500
    generator: GeneratorConfig | None = None
    # The accurate profile's all-mpnet-base-v2 export, and where encoders run.
    mpnet_dir: Path | None = None
    device: str = "cpu"


def data_hash(entries: Sequence[KnowledgeEntry]) -> str:
    """Hash of the training data: entry ids and their phrasings."""
    payload = json.dumps([[e.id, list(e.questions)] for e in entries], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def router_metrics(router_dir: Path) -> dict[str, Any]:
    """What training measured, kept with the version (held-out figures and threshold)."""
    saved = load_saved(router_dir)
    return {"training": {"threshold": saved.threshold, **saved.calibration}}


def train_candidate(
    registry: ModelRegistry,
    entries: list[KnowledgeEntry],
    *,
    config: RouterConfig,
    created_by: str,
    progress: bool = False,
    mpnet_dir: Path | None = None,
) -> ModelVersion:
    """Train a router on ``entries``, export it for ONNX Runtime and register it as a candidate.

    An accurate-profile router (``config.profile``) fits its second head on the export under
    ``mpnet_dir``.
    """
    second = second_encoder(config.profile, mpnet_dir, config.threads)
    with registry.staged(ModelKind.ROUTER) as staging:
        report = train_router(entries, staging / "router", config=config, progress=progress, second=second)
        export_onnx(report.model_dir)
        # The version's own folder is the router folder: move its contents up one level.
        for child in (staging / "router").iterdir():
            child.rename(staging / child.name)
        (staging / "router").rmdir()
        return registry.register(
            ModelKind.ROUTER, staging, data_hash=data_hash(entries),
            settings={"router": config.to_json(), "router_hash": report.version},
            metrics={**router_metrics(staging), "train_s": round(report.train_s, 1)},
            created_by=created_by,
        )


def train_generator_candidate(
    registry: ModelRegistry,
    corpus: Sequence[str],
    *,
    config: TrainConfig,
    created_by: str,
    progress: bool = False,
) -> ModelVersion:
    """Train the shop's GPT-2 on ``corpus``, export it for ONNX Runtime, register a candidate."""
    from bot.generation.fast import OnnxGpt2Generator
    from bot.training.generator import train_generator

    with registry.staged(ModelKind.GENERATOR) as staging:
        report = train_generator(list(corpus), staging / MODEL_DIR, config=config, progress=progress)
        OnnxGpt2Generator(staging / MODEL_DIR, staging / FAST_DIR).warm_up()
        corpus_hash = hashlib.sha256("\n\n".join(corpus).encode()).hexdigest()
        return registry.register(
            ModelKind.GENERATOR, staging, data_hash=corpus_hash,
            settings={"generator": asdict(config), "checkpoint": report.version},
            metrics={"training": {"steps": report.steps, "final_loss": report.final_loss,
                                  "documents": report.documents, "parameters": report.parameters},
                     "train_s": round(report.train_seconds, 1)},
            created_by=created_by,
        )


class ModelLifecycle:
    """Evaluate, replay, deploy and roll back model versions over one knowledge base."""

    def __init__(
        self,
        registry: ModelRegistry,
        kb: KnowledgeBase,
        config: LifecycleConfig,
        *,
        encoder_of: Callable[[Path], TurnEncoder] | None = None,
    ) -> None:
        self.registry = registry
        self.kb = kb
        self.config = config
        self._encoder_of = encoder_of or (lambda path: turn_encoder(
            config.backend, path, config.threads, mpnet_dir=config.mpnet_dir, device=config.device))
        # One operation at a time per process: each loads two models and keeps a core busy.
        self._busy = threading.Lock()

    @contextmanager
    def _one_at_a_time(self) -> Iterator[None]:
        if not self._busy.acquire(blocking=False):
            raise Conflict("another model operation is running in this worker; try again when it ends")
        try:
            yield
        finally:
            self._busy.release()

    def serving(self, kind: ModelKind = ModelKind.ROUTER) -> tuple[str, Path]:
        """The live version's name and folder: the registry's, else the seed model."""
        live = self.registry.live(kind)
        if live is not None:
            return live.version, live.path
        try:
            if kind is ModelKind.ROUTER:
                return f"{SEED}:{load_saved(self.config.seed_dir).version}", self.config.seed_dir
            seed = self._generators().seed_dir
            return f"{SEED}:{checkpoint_version(seed)}", seed
        except NotReady as err:
            raise NotReady(f"no live {kind}: deploy one, or run `shopbot setup` ({err})") from err

    def router(self, path: Path) -> OfflineRouter:
        """A version's turn encoder over the knowledge base, loaded."""
        router = OfflineRouter(self._encoder_of(path), self.kb, self.config.routing, self.config.flags)
        router.warm_up()
        return router

    def checkpoint(self, path: Path) -> Path:
        """The GPT-2 checkpoint folder of a generator version (a registry folder, or the seed)."""
        return path / MODEL_DIR if (path / MODEL_DIR).is_dir() else self._generators().seed_dir

    def generator(self, path: Path) -> Generator:
        """A generator version (a registry folder, or the seed checkpoint), not yet loaded."""
        gen = self._generators()
        cache = path / FAST_DIR if (path / MODEL_DIR).is_dir() else gen.seed_cache
        return gpt2_generator(gen.backend, self.checkpoint(path), cache, max_new_tokens=gen.max_new_tokens,
                              threads=gen.threads)

    def _generators(self) -> GeneratorConfig:
        if self.config.generator is None:
            raise BadRequest("generator versions are not managed here")
        return self.config.generator

    def candidate(self, version: str) -> ModelVersion:
        """A registered version, its files verified."""
        found = self.registry.get(version)
        self.registry.verify(found)
        return found

    def evaluate(self, version: str) -> dict[str, Any]:
        """The gate's report of ``version`` against the live version; stored with the version."""
        with self._one_at_a_time():
            return self._evaluate(version)

    def _evaluate(self, version: str) -> dict[str, Any]:
        found = self.candidate(version)
        live_name, live_dir = self.serving(found.kind)
        same = live_name == version
        if found.kind is ModelKind.GENERATOR:
            gen = self._generators()
            if gen.probes is None:
                raise BadRequest("no product questions to judge a generator on")
            # Imported here: scoring needs PyTorch, which a server on ONNX Runtime never loads.
            from bot.training.scoring import answer_loss

            probes = load_probes(gen.probes, self.kb.product_by_code, gen.probe_limit)
            references = reference_answers(probes)
            losses = (answer_loss(self.checkpoint(found.path), references),
                      None if same else answer_loss(self.checkpoint(live_dir), references))
            report = evaluate_generator(
                self.generator(found.path), None if same else self.generator(live_dir), probes,
                max_drop=gen.max_drop, timeout_s=gen.timeout_s, names=(version, None if same else live_name),
                losses=losses, max_loss_rise=gen.max_loss_rise)
        else:
            report = evaluate(
                self.router(found.path), found.path,
                None if same else self.router(live_dir), None if same else live_dir,
                gold_cases(self.registry.engine), self.config.gate,
                names=(version, None if same else live_name),
            )
        self.registry.update_metrics(version, {"evaluation": report})
        return report

    def replay(
        self, version: str, *, limit: int | None = None, since: datetime | None = None
    ) -> dict[str, Any]:
        """Recent shopper messages through ``version`` and the live version; stored with it."""
        with self._one_at_a_time():
            return self._replay(version, limit, since)

    def _replay(self, version: str, limit: int | None, since: datetime | None) -> dict[str, Any]:
        found = self.candidate(version)
        if found.kind is not ModelKind.ROUTER:
            raise BadRequest(f"{version} is a {found.kind}: replay routes messages, so it takes a router")
        live_name, live_dir = self.serving()
        n = limit or self.config.replay_limit
        if not 1 <= n <= 100_000:
            raise BadRequest("limit must be between 1 and 100000")
        messages = recent_messages(self.registry.engine, n, since)
        report = replay(messages, self.router(found.path), self.router(live_dir),
                        names=(version, live_name), since=since)
        self.registry.update_metrics(version, {"replay": {k: v for k, v in report.items() if k != "groups"}})
        return report

    def deploy(self, version: str, *, actor: str, force: bool = False) -> ModelEvent:
        """Make ``version`` live if it passes the gate (or ``force``); workers follow."""
        with self._one_at_a_time():
            return self._deploy(version, actor, force)

    def _deploy(self, version: str, actor: str, force: bool) -> ModelEvent:
        found = self.candidate(version)
        try:
            report = self._evaluate(version)
        except NotReady:
            if not force:
                raise
            report = {"passed": False, "error": "could not be evaluated"}
        if not report["passed"] and not force:
            failed = [c["name"] for c in report.get("checks", []) if not c["passed"]]
            raise Conflict(f"{version} fails the gate ({', '.join(failed)}): see `shopbot evaluate "
                           f"--candidate {version}`; deploy with --force to override")
        seed = self._register_seed(found.kind)
        summary = {"passed": report["passed"], "metrics": report.get("metrics"),
                   "checks": report.get("checks")}
        return self.registry.set_live(found.version, actor=actor, action=ModelAction.DEPLOY, forced=force,
                                      metrics=summary, replaces=seed)

    def rollback(self, *, actor: str, kind: ModelKind = ModelKind.ROUTER) -> ModelEvent:
        """Make the version live before the current one live again (no gate: it served before)."""
        with self._one_at_a_time():
            return self.registry.roll_back(kind, actor=actor)

    def _register_seed(self, kind: ModelKind) -> str | None:
        """Before the first deploy of a kind, its seed model becomes a retired version.

        That is what the first deploy replaces, and what a rollback returns to. Registered
        retired, never live: workers keep serving the seed itself until the deploy lands.
        """
        if self.registry.live(kind) is not None:
            return None
        try:
            name, _ = self.serving(kind)
        except NotReady:
            return None  # nothing was served before: the first deploy has nothing to roll back to
        with self.registry.staged(kind) as staging:
            if kind is ModelKind.ROUTER:
                copy_into(self.config.seed_dir, staging)
                saved = load_saved(self.config.seed_dir)
                settings: dict[str, Any] = {"router": saved.config, "router_hash": saved.version}
                metrics = router_metrics(self.config.seed_dir)
            else:
                gen = self._generators()
                copy_into(gen.seed_dir, staging / MODEL_DIR)
                if gen.seed_cache.is_dir():
                    copy_into(gen.seed_cache, staging / FAST_DIR)
                settings, metrics = {"checkpoint": name.split(":", 1)[1]}, {}
            seed = self.registry.register(kind, staging, data_hash=name.split(":", 1)[1], settings=settings,
                                          metrics=metrics, created_by=SEED, state=ModelState.RETIRED)
        return seed.version
