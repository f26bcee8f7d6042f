"""The shop's searchable knowledge: FAQ and intent phrasings, and the product catalogue.

Indexes are saved under ``var/index`` with a content version and rebuilt only when the
knowledge, the catalogue or the encoder changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.engine import Engine
from tqdm import tqdm

from core.shop import Product, load_products
from retrieval.catalogue.live import CatalogueState, LiveCatalogue
from retrieval.catalogue.sync import record_rebuilt_index
from retrieval.corrections import KnowledgeChange, apply_changes, stored_changes
from retrieval.embeddings import Encoder
from retrieval.index import VectorIndex, content_version
from retrieval.knowledge import KnowledgeEntry, load_knowledge

ROUTING = "routing"
PRODUCTS = "products"


@dataclass(frozen=True)
class KnowledgeBase:
    """Entries (FAQ answers and answer-less intents), and the catalogue (replaced by each sync)."""

    entries: dict[str, KnowledgeEntry]
    routing: VectorIndex
    catalogue: LiveCatalogue

    @property
    def products(self) -> VectorIndex:
        """The product index answering now (take ``catalogue.state`` once to pair it with products)."""
        return self.catalogue.state.index

    @property
    def product_by_code(self) -> Mapping[str, Product]:
        """The products answering now, by stock code."""
        return self.catalogue.state.by_code

    @property
    def version(self) -> str:
        """Combined version of both indexes, logged with every turn (the catalogue's changes with
        each sync)."""
        return f"{self.routing.version}+{self.catalogue.state.version}"

    def is_intent(self, entry_id: str) -> bool:
        """True for answer-less entries (routes such as ``recommend``)."""
        entry = self.entries.get(entry_id)
        return entry is not None and entry.answer is None


def load_entries(
    faq_path: Path, intents_path: Path | None = None, changes: Sequence[KnowledgeChange] = ()
) -> list[KnowledgeEntry]:
    """FAQ entries, then the routing intents (when the file exists), with ``changes`` applied."""
    entries = load_knowledge(faq_path)
    if intents_path is not None and intents_path.exists():
        entries += load_knowledge(intents_path)
    return apply_changes(entries, changes)


def answered_entries(
    engine: Engine, faq_path: Path, intents_path: Path | None,
    project_entries: Sequence[KnowledgeEntry] | None = None,
) -> list[KnowledgeEntry]:
    """The knowledge the bot answers from now: a Rasa project's intents (when given) or the FAQ
    and intent files, with the auditors' active promoted changes applied (blocking)."""
    changes = stored_changes(engine)
    if project_entries is not None:
        return apply_changes(project_entries, changes)
    return load_entries(faq_path, intents_path, changes)


def _phrasings(entries: Sequence[KnowledgeEntry]) -> tuple[list[str], list[str]]:
    ids, texts = [], []
    for entry in entries:
        for q in entry.questions:
            ids.append(entry.id)
            texts.append(q)
    return ids, texts


def _encode(encoder: Encoder, texts: list[str], label: str, progress: bool) -> np.ndarray:
    chunks = [texts[i : i + 256] for i in range(0, len(texts), 256)]
    out = [encoder.encode(c) for c in tqdm(chunks, desc=f"embedding {label}", disable=not progress)]
    return np.vstack(out) if out else np.zeros((0, encoder.dim), dtype=np.float32)


def _ensure(
    directory: Path, name: str, ids: list[str], texts: list[str], encoder: Encoder, progress: bool
) -> tuple[VectorIndex, bool]:
    version = content_version(encoder.version, ids, texts)
    if VectorIndex.saved_version(directory, name) == version:
        return VectorIndex.load(directory, name), False
    index = VectorIndex.build(_encode(encoder, texts, name, progress), ids, texts, version)
    index.save(directory, name)
    return index, True


def load_knowledge_base(
    entries: Sequence[KnowledgeEntry],
    shop_dir: Path,
    index_dir: Path,
    encoder: Encoder,
    *,
    progress: bool = False,
) -> tuple[KnowledgeBase, list[str]]:
    """Load the indexes, (re)building those whose inputs changed; also returns the rebuilt names."""
    kb, rebuilt = knowledge_base(entries, load_products(shop_dir), index_dir, encoder, progress=progress)
    # The same products re-encoded for a new encoder (now, or by an older release that left the
    # record behind): the last sync's record names the index stored now.
    record_rebuilt_index(shop_dir, index_dir, kb.catalogue.state.version)
    return kb, rebuilt


def knowledge_base(
    entries: Sequence[KnowledgeEntry],
    products: Sequence[Product],
    index_dir: Path,
    encoder: Encoder,
    *,
    product_index_dir: Path | None = None,
    progress: bool = False,
) -> tuple[KnowledgeBase, list[str]]:
    """The knowledge base of ``entries`` and ``products``, its indexes kept under ``index_dir``.

    ``product_index_dir`` keeps the catalogue's index elsewhere (``shopbot eval`` reuses the
    shop's own while indexing another knowledge file).
    """
    rebuilt = []
    routing, fresh = _ensure(index_dir, ROUTING, *_phrasings(entries), encoder, progress)
    if fresh:
        rebuilt.append(ROUTING)
    product_index, fresh = _ensure(
        product_index_dir or index_dir,
        PRODUCTS,
        [p.stock_code for p in products],
        [p.passage() for p in products],
        encoder,
        progress,
    )
    if fresh:
        rebuilt.append(PRODUCTS)
    kb = KnowledgeBase(
        entries={e.id: e for e in entries},
        routing=routing,
        catalogue=LiveCatalogue(CatalogueState.of(product_index, list(products))),
    )
    return kb, rebuilt
