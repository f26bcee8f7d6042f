"""A Merchant Center product feed as a catalogue source: a file, or a URL fetched each sync."""

from __future__ import annotations

import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from core.errors import BadRequest, Unavailable
from retrieval.catalogue.merchant_feed import read_feed, to_products
from retrieval.catalogue.source import CatalogueRead

# A feed is fetched whole before it is read; past this it is refused (Google's own limit for a
# fetched feed file is 4 GB, far beyond a shop whose catalogue fits a chat bot's memory).
MAX_DOWNLOAD = 512 * 1024 * 1024
_CHUNK = 1 << 20


class MerchantFeed:
    """``merchant-feed:PATH_OR_URL``: the shop's Merchant Center feed, XML or TSV."""

    def __init__(self, location: str, *, timeout_s: float = 60.0, max_bytes: int = MAX_DOWNLOAD) -> None:
        self.location = location
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes

    @property
    def name(self) -> str:
        """The feed's path or URL (a URL's query, which may hold a key, left out)."""
        return f"merchant-feed:{self.location.split('?', 1)[0]}"

    def fingerprint(self) -> str | None:
        """The file's size and modification time (None for a URL: it is fetched each sync)."""
        if self.location.startswith(("http://", "https://")):
            return None
        try:
            stat = Path(self.location).stat()
        except OSError:
            return None
        return f"{stat.st_size}:{stat.st_mtime_ns}"

    def read(self) -> CatalogueRead:
        """Every item of the feed now (raises ``BadRequest`` for a refused feed, naming the line or
        item; ``Unavailable`` when a URL cannot be fetched)."""
        if not self.location.startswith(("http://", "https://")):
            return _read(Path(self.location))
        with tempfile.TemporaryDirectory(prefix="shopbot-feed-") as tmp:
            path = Path(tmp) / "feed"
            self._download(path)
            return _read(path)

    def _download(self, path: Path) -> None:
        request = urllib.request.Request(self.location, headers={"User-Agent": "shopbot-catalogue-sync"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response, path.open("wb") as out:
                size = 0
                while chunk := response.read(_CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise BadRequest(f"{self.name}: the feed is over {self.max_bytes // 2**20} MiB; "
                                         "refused")
                    out.write(chunk)
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            raise Unavailable(f"{self.name} could not be fetched: {err}") from err


def _read(path: Path) -> CatalogueRead:
    if not path.is_file():
        raise BadRequest(f"no feed at {path}")
    feed = read_feed(path)
    skipped = tuple(f"{p.where}{f' (id {p.item_id!r})' if p.item_id else ''}: {p.message}"
                    for p in feed.skipped)
    return CatalogueRead(tuple(to_products(feed)), skipped)
