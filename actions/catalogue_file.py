"""The synced catalogue as the actions see it: ``products.json``, read again after each sync.

The bot's own catalogue is swapped in memory by the server (retrieval/catalogue/live.py); the
actions load without the server (and may run as a separate action server), so they follow the
same file instead: a product removed or repriced by a sync is neither recommended nor shown at
its old price.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from core.shop import Product, load_products

log = logging.getLogger(__name__)

CHECK_EVERY_S = 2.0


class SyncedProducts(Mapping[str, Product]):
    """Products by (normalised) stock code, re-read when ``products.json`` changes (checked at most
    every ``check_every_s``); a file that cannot be read keeps the products already loaded."""

    def __init__(self, shop_dir: Path, key: Callable[[str], str], *,
                 check_every_s: float = CHECK_EVERY_S) -> None:
        self.path = shop_dir / "products.json"
        self._key = key
        self._check_every_s = check_every_s
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._products = self._read(shop_dir)
        self._checked = time.monotonic()

    def _stat(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def _read(self, shop_dir: Path) -> dict[str, Product]:
        return {self._key(p.stock_code): p for p in load_products(shop_dir)}

    def _current(self) -> dict[str, Product]:
        now = time.monotonic()
        if now - self._checked < self._check_every_s:
            return self._products
        with self._lock:
            self._checked = now
            stamp = self._stat()
            if stamp is not None and stamp != self._stamp:
                try:
                    self._products = self._read(self.path.parent)
                    self._stamp = stamp
                except Exception as err:  # noqa: BLE001 - mid-write or damaged: keep what was loaded
                    log.warning("catalogue not re-read for the actions: %s", err)
        return self._products

    def __getitem__(self, code: str) -> Product:
        return self._current()[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())
