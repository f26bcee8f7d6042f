"""Keeps one worker's catalogue current: syncs the source on a schedule, and swaps in whatever
catalogue a sync (this worker's, another's, or ``shopbot catalogue sync``) wrote.

The swap is one reference assignment (``retrieval/catalogue/live.py``); no turn waits for it and
no turn sees half of two catalogues. A failed sync changes nothing served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from core.errors import Conflict, ShopbotError
from monitoring.metrics import ShopbotMetrics
from retrieval.catalogue.live import LiveCatalogue
from retrieval.catalogue.source import CatalogueSource
from retrieval.catalogue.store import read_meta
from retrieval.catalogue.sync import (
    SyncReport,
    load_state,
    record_rebuilt_index,
    stored_version,
    sync_catalogue,
)
from retrieval.embeddings import Encoder

log = logging.getLogger(__name__)

SYNC_NICENESS = 10


class CatalogueFollower:
    """Syncs ``source`` every ``sync_every_s`` (0: never by itself) and checks every
    ``check_every_s`` for a newer synced catalogue to swap in."""

    def __init__(
        self,
        live: LiveCatalogue,
        source: CatalogueSource | None,
        *,
        shop_dir: Path,
        index_dir: Path,
        encoder: Encoder,
        metrics: ShopbotMetrics,
        sync_every_s: float,
        check_every_s: float,
    ) -> None:
        self.live = live
        self.source = source
        self.shop_dir = shop_dir
        self.index_dir = index_dir
        self.encoder = encoder
        self.metrics = metrics
        self.sync_every_s = sync_every_s
        self.check_every_s = check_every_s
        self.last_report: SyncReport | None = None
        self.last_error: str | None = None
        self.last_error_at: str | None = None
        self.swapped_at: str | None = None
        self._last_sync = 0.0
        self._task: asyncio.Task[None] | None = None
        self._sync_lock = asyncio.Lock()
        # Syncs run on their own thread at a lower CPU priority: re-encoding a catalogue must not
        # slow the answers served meanwhile (the encoder runs in the calling thread).
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="catalogue-sync",
                                            initializer=_lower_priority)

    async def start(self) -> None:
        """Begin following (and syncing, when a schedule is set)."""
        self.metrics.set_catalogue(len(self.live.state.by_code), self.live.state.version)
        self._task = asyncio.get_running_loop().create_task(self._follow())

    async def close(self) -> None:
        """Stop (a sync under way finishes first: it writes whole or not at all)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self._executor.shutdown, wait=True)

    async def _follow(self) -> None:
        while True:
            try:
                if self._due():
                    await self.sync()
                await self.refresh()
            except Exception:  # noqa: BLE001 - a bad tick must not stop the follower
                log.exception("catalogue follower tick failed")
            await asyncio.sleep(self.check_every_s)

    def _due(self) -> bool:
        if self.source is None or self.sync_every_s <= 0:
            return False
        if time.monotonic() - self._last_sync < self.sync_every_s:
            return False
        # Another worker synced the same source moments ago: its catalogue is swapped in instead.
        meta = read_meta(self.shop_dir)
        synced = meta.get("synced_at")
        if meta.get("source") == self.source.name and isinstance(synced, str):
            with contextlib.suppress(ValueError):
                age = (datetime.now(UTC) - datetime.fromisoformat(synced)).total_seconds()
                if 0 <= age < self.sync_every_s / 2:
                    self._last_sync = time.monotonic()
                    return False
        return True

    async def sync(self, *, force: bool = False) -> SyncReport:
        """Sync the source now (raises what the sync raised, after recording it)."""
        if self.source is None:
            raise Conflict("the demo catalogue changes only with `shopbot prepare`: set "
                           "SHOPBOT_CATALOGUE_SOURCE to the shop's feed or platform to sync it")
        async with self._sync_lock:
            self._last_sync = time.monotonic()
            try:
                report = await asyncio.get_running_loop().run_in_executor(
                    self._executor, partial(sync_catalogue, self.source, self.shop_dir, self.index_dir,
                                            self.encoder, force=force))
            except ShopbotError as err:
                self.last_error, self.last_error_at = str(err), _now()
                self.metrics.observe_catalogue_sync("failed")
                log.error("catalogue sync from %s failed, the catalogue served is unchanged: %s",
                          self.source.name, err)
                raise
            self.last_report, self.last_error = report, None
            self.metrics.observe_catalogue_sync("changed" if report.written else "unchanged")
            if report.written:
                log.info("catalogue synced: %s", report.summary())
        await self.refresh()
        return report

    async def refresh(self) -> bool:
        """Swap in the synced catalogue when it is newer than the one served; True when swapped."""
        stored = await asyncio.to_thread(stored_version, self.shop_dir)
        if stored is None or stored == self.live.state.version:
            return False
        state = await asyncio.to_thread(load_state, self.shop_dir, self.index_dir)
        if state is None:
            return False  # mid-write: the next check finds it whole
        if state.version == self.live.state.version:
            # The files are the catalogue served, under the last sync's record of another version
            # (an index rebuilt for a new encoder). The record is mended so that the next check
            # loads nothing: a load holds the interpreter for tens of milliseconds and every turn
            # waits behind it (docs/quality.md, "The catalogue reloaded every two seconds").
            await asyncio.to_thread(record_rebuilt_index, self.shop_dir, self.index_dir, state.version)
            return False
        self.live.replace(state)
        self.swapped_at = _now()
        self.metrics.set_catalogue(len(state.by_code), state.version)
        log.info("catalogue %s live on this worker (%d products)", state.version, len(state.by_code))
        return True

    def status(self) -> dict[str, Any]:
        """What this worker serves, and what the last sync did."""
        meta = read_meta(self.shop_dir)
        return {
            "source": self.source.name if self.source is not None else None,
            "serving": {"version": self.live.state.version, "products": len(self.live.state.by_code),
                        "since": self.swapped_at},
            "stored": {k: meta.get(k) for k in ("source", "version", "synced_at", "products", "added",
                                                 "changed", "removed", "encoded", "skipped_total")},
            "skipped": meta.get("skipped", [])[:20],
            "sync_every_s": self.sync_every_s,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }


def _lower_priority() -> None:
    # Linux sets niceness per thread: this thread only, the event loop and model threads keep theirs.
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SYNC_NICENESS)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
