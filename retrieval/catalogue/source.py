"""The one interface every catalogue source (a feed, a CSV export, a platform's API) is read through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.shop import Product


@dataclass(frozen=True)
class CatalogueRead:
    """Every product the source holds now, and what it left out and why (``skipped``: one line per
    item, naming its line, position or id, e.g. ``"item 17 (id 'A-3'): no price"``)."""

    products: tuple[Product, ...]
    skipped: tuple[str, ...] = ()


class CatalogueSource(Protocol):
    """Reads the shop's whole catalogue as it is now (blocking: run it off the event loop).

    Raises ``core.errors.BadRequest`` for input that is refused (a hostile or malformed feed),
    with the line or item named; ``core.errors.Unavailable`` when the shop's system cannot be
    reached. Either way the catalogue already served stays as it is.
    """

    @property
    def name(self) -> str:
        """Where the catalogue comes from, for logs and reports (never a secret)."""
        ...

    def read(self) -> CatalogueRead:
        """The whole catalogue now."""
        ...


# A source may also define ``fingerprint() -> str | None``: something that changes whenever its
# catalogue may have (a file's size and modification time). A sync skips reading a source whose
# fingerprint is the one it last synced; None (or no method) means "read it every time".
