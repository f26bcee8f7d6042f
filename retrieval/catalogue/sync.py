"""Sync the catalogue from its source: read it, compare it with what is served, re-encode only the
products whose text changed, and write the catalogue and its index whole.

Whatever goes wrong (a refused feed, a platform that does not answer, a feed that lost most of
its items) leaves the catalogue already served as it is. Writers are serialised by a lock file, so
several workers (and the ``shopbot catalogue sync`` command) never interleave their writes.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from core.errors import BadRequest, RetrievalError
from core.shop import Product, load_products
from retrieval.catalogue.live import CatalogueState
from retrieval.catalogue.source import CatalogueSource
from retrieval.catalogue.store import read_meta, write_meta, write_products
from retrieval.embeddings import Encoder
from retrieval.index import VectorIndex, content_version

log = logging.getLogger(__name__)

PRODUCT_INDEX = "products"  # the name retrieval.knowledge_base gives the product index
LOCK = ".catalogue.lock"
# A sync that would remove more than this share of the catalogue is refused unless forced: a feed
# cut short in transfer must not empty the shop.
MAX_REMOVED_SHARE = 0.5
_ENCODE_CHUNK = 256


@dataclass(frozen=True)
class SyncReport:
    """What one sync read and changed, and how long it took."""

    source: str
    version: str
    products: int
    added: int
    changed: int
    repriced: int
    removed: int
    encoded: int
    skipped: tuple[str, ...]
    read_s: float
    index_s: float
    total_s: float
    written: bool

    def summary(self) -> str:
        """One line for a log or a terminal."""
        if not self.written:
            return f"{self.source}: unchanged ({self.products} products, version {self.version})"
        return (f"{self.source}: {self.products} products (+{self.added} added, {self.changed} changed, "
                f"{self.removed} removed, {self.encoded} re-encoded), {len(self.skipped)} skipped; "
                f"version {self.version}; read {self.read_s:.2f} s, index {self.index_s:.2f} s")


@contextlib.contextmanager
def writer_lock(shop_dir: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold the catalogue's writer lock; with ``wait=False`` yields False at once when it is held."""
    shop_dir.mkdir(parents=True, exist_ok=True)
    with (shop_dir / LOCK).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sync_catalogue(
    source: CatalogueSource,
    shop_dir: Path,
    index_dir: Path,
    encoder: Encoder,
    *,
    force: bool = False,
    max_removed_share: float = MAX_REMOVED_SHARE,
) -> SyncReport:
    """Read ``source`` and make ``shop_dir``/``index_dir`` hold its catalogue (see the module doc).

    Raises ``BadRequest`` (refused input, or a shrink past ``max_removed_share`` without ``force``)
    or ``Unavailable`` (the source cannot be reached); nothing is written then.
    """
    started = time.perf_counter()
    # A file that has not changed since the last sync is not read again (a 10,000-item feed takes
    # seconds of CPU to parse; a schedule would spend them every few seconds for nothing).
    fingerprint = getattr(source, "fingerprint", lambda: None)()
    meta = read_meta(shop_dir)
    if (not force and fingerprint is not None and meta.get("source") == source.name
            and meta.get("fingerprint") == fingerprint and meta.get("version")):
        return SyncReport(source=source.name, version=str(meta["version"]),
                          products=int(meta.get("products", 0)), added=0, changed=0, repriced=0,
                          removed=0, encoded=0, skipped=(), read_s=0.0, index_s=0.0,
                          total_s=round(time.perf_counter() - started, 3), written=False)
    read = source.read()
    read_s = time.perf_counter() - started
    products = list(read.products)
    if not products:
        first = f" ({len(read.skipped)} skipped, first: {read.skipped[0]})" if read.skipped else ""
        raise BadRequest(f"{source.name} holds no usable product{first}")
    with writer_lock(shop_dir):
        old = _served(shop_dir)
        old_by_code = {p.stock_code: p for p in old}
        codes = {p.stock_code for p in products}
        removed = [c for c in old_by_code if c not in codes]
        if old and not force and len(removed) > max_removed_share * len(old):
            raise BadRequest(
                f"{source.name} would remove {len(removed)} of the {len(old)} products served "
                f"(over {max_removed_share:.0%}): refused, the catalogue is unchanged; a feed cut short? "
                "`shopbot catalogue sync --force` accepts it")
        index_started = time.perf_counter()
        index, encoded = _index(products, index_dir, encoder)
        index_s = time.perf_counter() - index_started
        added = sum(c not in old_by_code for c in codes)
        changed = [p for p in products
                   if p.stock_code in old_by_code and _differs(p, old_by_code[p.stock_code])]
        repriced = sum(p.price != old_by_code[p.stock_code].price for p in changed)
        written = bool(added or changed or removed) or read_meta(shop_dir).get("source") != source.name \
            or VectorIndex.saved_version(index_dir, PRODUCT_INDEX) != index.version
        if written:
            # The index first: a reader pairs products.json with the index whose version matches it,
            # and rebuilds when they differ, so a crash between the two writes costs time, not answers.
            index.save(index_dir, PRODUCT_INDEX)
            write_products(shop_dir, products)
        report = SyncReport(
            source=source.name, version=index.version, products=len(products), added=added,
            changed=len(changed), repriced=repriced, removed=len(removed), encoded=encoded,
            skipped=read.skipped, read_s=round(read_s, 3), index_s=round(index_s, 3),
            total_s=round(time.perf_counter() - started, 3), written=written,
        )
        write_meta(shop_dir, {
            "source": source.name, "version": index.version, "fingerprint": fingerprint,
            "synced_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **{k: v for k, v in asdict(report).items() if k not in ("source", "version", "skipped")},
            "skipped": list(read.skipped[:100]), "skipped_total": len(read.skipped),
        })
    return report


def load_state(shop_dir: Path, index_dir: Path) -> CatalogueState | None:
    """The synced catalogue and its index as saved, or None when they do not match (mid-write)."""
    try:
        products = load_products(shop_dir)
        index = VectorIndex.load(index_dir, PRODUCT_INDEX)
    except (OSError, ValueError, RetrievalError) as err:
        log.warning("catalogue not loaded: %s", err)
        return None
    if index.ids != [p.stock_code for p in products] or index.texts != [p.passage() for p in products]:
        return None
    return CatalogueState.of(index, products)


def record_rebuilt_index(shop_dir: Path, index_dir: Path, loaded: str) -> str | None:
    """Make the last sync's record name the product index stored now, when that index holds the
    record's catalogue under another version (``shopbot setup`` re-encodes it for a new encoder).

    ``loaded``: the version of the product index the caller loaded; a record naming it (or no
    record) is left alone without reading anything more. Returns the version recorded, or None: a
    sync writing now (its own record follows), or products and index that do not match. Without
    this the record kept the old encoder's version, and status and followers compared every check
    against a catalogue never served.
    """
    if stored_version(shop_dir) in (None, loaded):
        return None
    with writer_lock(shop_dir, wait=False) as held:
        meta = read_meta(shop_dir)
        state = load_state(shop_dir, index_dir) if held else None
        if state is None or not meta.get("version") or meta["version"] == state.version:
            return None
        write_meta(shop_dir, {**meta, "version": state.version})
        return state.version


def stored_version(shop_dir: Path) -> str | None:
    """The version the last sync wrote, or None."""
    version = read_meta(shop_dir).get("version")
    return str(version) if version else None


def _served(shop_dir: Path) -> list[Product]:
    try:
        return load_products(shop_dir)
    except Exception:  # noqa: BLE001 - nothing served yet, or unreadable: the sync writes it anew
        return []


def _differs(new: Product, old: Product) -> bool:
    return asdict(new) != asdict(old)


def _index(products: list[Product], index_dir: Path, encoder: Encoder) -> tuple[VectorIndex, int]:
    """The product index of ``products``: saved vectors reused for passages unchanged, the rest encoded."""
    ids = [p.stock_code for p in products]
    texts = [p.passage() for p in products]
    version = content_version(encoder.version, ids, texts)
    known: dict[str, np.ndarray] = {}
    try:
        saved = VectorIndex.load(index_dir, PRODUCT_INDEX)
    except Exception:  # noqa: BLE001 - no index yet, or unreadable: every passage is encoded
        saved = None
    # Vectors of the same encoder only: a saved index's version hashes its encoder's.
    if saved is not None and saved.index.ntotal == len(saved.texts) and _same_encoder(saved, encoder):
        vectors = saved.index.reconstruct_n(0, saved.index.ntotal)
        known = {text: vectors[row] for row, text in enumerate(saved.texts)}
    missing = sorted({t for t in texts if t not in known})
    for start in range(0, len(missing), _ENCODE_CHUNK):
        chunk = missing[start:start + _ENCODE_CHUNK]
        for text, vector in zip(chunk, encoder.encode(chunk), strict=True):
            known[text] = vector
    matrix = np.stack([known[t] for t in texts]).astype(np.float32) if texts else \
        np.zeros((0, encoder.dim), dtype=np.float32)
    return VectorIndex.build(matrix, ids, texts, version), len(missing)


def _same_encoder(saved: VectorIndex, encoder: Encoder) -> bool:
    return saved.version == content_version(encoder.version, saved.ids, saved.texts)
