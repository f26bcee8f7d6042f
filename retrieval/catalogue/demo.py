"""The demo shop as a catalogue source: the UCI Online Retail products ``shopbot prepare`` derives.

It is synced like any shop's source (``retrieval.catalogue.sync``), so the demo exercises the same
path: the store, the in-place index update, the version on each turn.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.errors import NotReady
from core.shop import Product
from retrieval.catalogue.source import CatalogueRead

# Written by ``shopbot prepare`` beside the shop tables: the demo's catalogue as derived, before
# any sync (products.json is the synced catalogue the bot answers from).
DEMO_PRODUCTS = "demo-products.json"


class DemoCatalogue:
    """``demo``: the products derived from the UCI transactions (docs/data.md)."""

    def __init__(self, shop_dir: Path) -> None:
        self.path = shop_dir / DEMO_PRODUCTS

    @property
    def name(self) -> str:
        """``demo``."""
        return "demo"

    def read(self) -> CatalogueRead:
        """The demo's products (``NotReady`` before ``shopbot prepare``)."""
        if not self.path.exists():
            raise NotReady(f"{self.path.name} is missing: run `shopbot prepare`")
        rows = json.loads(self.path.read_text(encoding="utf-8"))
        return CatalogueRead(tuple(Product(**row) for row in rows))
