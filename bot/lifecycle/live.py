"""Each worker serves the registry's live versions, and swaps to new ones without a restart.

Every ``check_every_s`` a worker reads which version of a kind is live (one indexed row). When it
changed, the worker verifies the new version's files, loads it and warms it up on a thread of
its own (the model threads keep answering meanwhile), then swaps it in: the router between two
batches (``Understanding.swap``), the generator between two answers (``GenerationService.swap``).
Work already running finishes on the old model; nothing waits for the load and nothing fails
because of it. A version that does not verify or load is refused, counted, and the old one
keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

from bot.generation.backends import gpt2_generator
from bot.generation.service import Generation, Generator
from bot.lifecycle.registry import FAST_DIR, MODEL_DIR, ModelKind, ModelRegistry, ModelVersion
from core.errors import Unavailable
from core.ratelog import RateLimitedLog
from monitoring.metrics import ShopbotMetrics
from retrieval.turn_encoder import Encoded, TurnEncoder

log = logging.getLogger(__name__)
# Checked every few seconds by each follower: an outage would log a traceback each time.
_outage_log = RateLimitedLog(log, 60.0)
T = TypeVar("T")


def generator_version(path: Path, backend: str, *, max_new_tokens: int, threads: int) -> Generator:
    """A registered generator version: its GPT-2 checkpoint, served from its own ONNX export."""
    return gpt2_generator(backend, path / MODEL_DIR, path / FAST_DIR, max_new_tokens=max_new_tokens,
                          threads=threads)


def _suffix(version: str) -> str:
    return version.rsplit("+", 1)[-1] if "+" in version else "model"


class VersionedEncoder:
    """A turn encoder that reports its registry version (and backend) as its version."""

    def __init__(self, encoder: TurnEncoder, name: str) -> None:
        self.encoder = encoder
        self.name = name

    @property
    def version(self) -> str:
        """``<registry version>+<backend>``, e.g. ``router-20261202-013000-ab12cd+onnx-int8``."""
        return f"{self.name}+{_suffix(self.encoder.version)}"

    def warm_up(self) -> None:
        """Load the wrapped encoder."""
        self.encoder.warm_up()

    def run(self, texts: Sequence[str]) -> list[Encoded]:
        """The wrapped encoder's outputs."""
        return self.encoder.run(texts)


class VersionedGenerator:
    """A generator that reports its registry version (and backend) as its version."""

    def __init__(self, generator: Generator, name: str) -> None:
        self.generator = generator
        self.name = name

    @property
    def version(self) -> str:
        """``<registry version>+<backend>``."""
        return f"{self.name}+{_suffix(self.generator.version)}"

    def warm_up(self) -> None:
        """Load the wrapped generator."""
        self.generator.warm_up()

    def run(self, question: str, passages: Sequence[str], *, max_time_s: float,
            copy_bias: float = 0.0) -> Generation:
        """The wrapped generator's answer."""
        return self.generator.run(question, passages, max_time_s=max_time_s, copy_bias=copy_bias)


class LiveModel(Generic[T]):
    """Keeps one worker on the registry's live version of one kind."""

    def __init__(
        self,
        kind: ModelKind,
        registry: ModelRegistry,
        load: Callable[[ModelVersion], T],
        swap: Callable[[T], None],
        metrics: ShopbotMetrics,
        *,
        serving: str | None,
        check_every_s: float = 2.0,
    ) -> None:
        self.kind = kind
        self.registry = registry
        self.load = load
        self.swap = swap
        self.metrics = metrics
        self.check_every_s = check_every_s
        # The registry version served now (None: the seed model, or a pinned one).
        self.serving = serving
        self._failed: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Begin following the registry."""
        self._task = asyncio.get_running_loop().create_task(self._follow())

    async def close(self) -> None:
        """Stop following it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.check_every_s)
            try:
                await self.refresh()
            except Unavailable as err:
                # The database away: said once per cause per minute, without a traceback each time.
                _outage_log.warning(f"{self.kind}: unavailable", "could not check the live %s version: %s",
                                    self.kind, err)
            except Exception:  # noqa: BLE001 - the registry being away must not stop the follower
                _outage_log.error(f"{self.kind}: failed", "could not check the live %s version", self.kind,
                                  exc_info=True)

    async def refresh(self) -> bool:
        """Swap to the live version if it changed; True when a swap happened."""
        async with self._lock:
            live = await asyncio.to_thread(self.registry.live, self.kind)
            if live is None or live.version == self.serving or live.version == self._failed:
                return False
            try:
                loaded = await asyncio.to_thread(self._load, live)
            except Exception as err:  # noqa: BLE001 - a broken version must not replace a working one
                self._failed = live.version
                self.metrics.observe_model_swap_failure(str(self.kind))
                log.error("%s %s not swapped in, still serving %s: %s", self.kind, live.version,
                          self.serving, err)
                return False
            self.swap(loaded)
            self.serving = live.version
            self._failed = None
            action = await asyncio.to_thread(self._action, live.version)
            self.metrics.observe_model_swap(str(self.kind), action)
            self.announce(live)
            log.info("%s %s live on this worker (%s)", self.kind, live.version, action)
            return True

    def announce(self, live: ModelVersion) -> None:
        """Export the live version, and a router's traffic baseline (from its replay), as metrics."""
        self.metrics.set_live_model(str(self.kind), live.version)
        baseline = live.metrics.get("replay", {}).get("rates", {}).get("candidate")
        if self.kind is ModelKind.ROUTER and baseline:
            self.metrics.set_model_baseline(str(self.kind), baseline)

    def _load(self, live: ModelVersion) -> T:
        self.registry.verify(live)
        return self.load(live)

    def _action(self, version: str) -> str:
        events = [e for e in self.registry.events(self.kind, limit=5) if e.version == version]
        return str(events[0].action) if events else "deploy"
