"""The catalogue a running worker answers from, replaced whole while it serves.

A sync (``retrieval.catalogue.sync``) writes a new catalogue and its index; each worker then
loads it and swaps it in with one reference assignment, so a turn reads either the old catalogue
or the new one, never a mix: every reader takes ``state`` once and uses that snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from core.shop import Product
from retrieval.index import VectorIndex
from retrieval.product_names import ProductNames


@dataclass(frozen=True)
class CatalogueState:
    """One version of the catalogue: its products, their index and the name finder over them."""

    index: VectorIndex
    by_code: Mapping[str, Product]
    names: ProductNames = field(compare=False)

    @classmethod
    def of(cls, index: VectorIndex, products: list[Product] | tuple[Product, ...]) -> CatalogueState:
        """The state of ``products`` indexed by ``index`` (built from the same products)."""
        return cls(index, {p.stock_code: p for p in products}, ProductNames(list(products)))

    @property
    def version(self) -> str:
        """The index's content version: it changes exactly when a product's passage does."""
        return self.index.version


class LiveCatalogue:
    """Holds the catalogue state answering now; ``replace`` swaps in a newer one."""

    def __init__(self, state: CatalogueState) -> None:
        self._state = state
        self.products = LiveProducts(self)

    @property
    def state(self) -> CatalogueState:
        """The catalogue answering now (take it once per use)."""
        return self._state

    def replace(self, state: CatalogueState) -> None:
        """Answer from ``state`` from now on (one reference assignment)."""
        self._state = state


class LiveProducts(Mapping[str, Product]):
    """The products of whatever catalogue answers now, by stock code (for readers that keep a
    mapping: they see each sync without being rebuilt). ``version`` tells a cache when to rebuild."""

    def __init__(self, live: LiveCatalogue) -> None:
        self._live = live

    @property
    def version(self) -> str:
        """The version of the catalogue answering now."""
        return self._live.state.version

    def __getitem__(self, code: str) -> Product:
        return self._live.state.by_code[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._live.state.by_code)

    def __len__(self) -> int:
        return len(self._live.state.by_code)
