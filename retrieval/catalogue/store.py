"""The synced catalogue on disk: ``products.json`` (what the bot answers from) and
``catalogue.json`` (which source it came from, when, and what the last sync did)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from core.shop import Product

PRODUCTS = "products.json"
META = "catalogue.json"


def write_products(shop_dir: Path, products: list[Product] | tuple[Product, ...]) -> None:
    """Write the catalogue, one product per line, whole or not at all (write, then rename)."""
    shop_dir.mkdir(parents=True, exist_ok=True)
    body = "[\n" + ",\n".join(json.dumps(asdict(p), ensure_ascii=False) for p in products) + "\n]\n"
    tmp = shop_dir / f"{PRODUCTS}.tmp"
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(shop_dir / PRODUCTS)


def read_meta(shop_dir: Path) -> dict[str, Any]:
    """What the last sync recorded; empty when none has (or the file is unreadable)."""
    try:
        meta = json.loads((shop_dir / META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def write_meta(shop_dir: Path, meta: dict[str, Any]) -> None:
    """Record a sync (write, then rename)."""
    tmp = shop_dir / f"{META}.tmp"
    tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    tmp.replace(shop_dir / META)
