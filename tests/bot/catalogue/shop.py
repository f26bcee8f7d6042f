"""A shop that is not the demo: its catalogue synced from a Merchant Center feed, on the built models."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from core.settings import REPO_ROOT, Settings
from harness.feeds import xml_feed
from retrieval.catalogue.feed_source import MerchantFeed
from retrieval.catalogue.source import CatalogueSource
from retrieval.catalogue.sync import SyncReport, sync_catalogue
from retrieval.embeddings import sentence_encoder
from tests.identity import IDENTITY_ENV
from tests.retrieval.catalogue.test_merchant_feed import Attrs

ITEMS: list[Attrs] = [
    {"id": "LAMP-1", "title": "Ceramic Table Lamp", "price": "45.00 GBP", "availability": "in_stock",
     "link": "https://homeware.example/p/lamp-1", "image_link": "https://homeware.example/i/lamp-1.jpg",
     "product_type": "Lighting > Lamps", "color": "White", "material": "Ceramic"},
    {"id": "MUG-1", "title": "Enamel Coffee Mug", "price": "12.50 GBP", "availability": "in_stock",
     "link": "https://homeware.example/p/mug-1", "product_type": "Kitchen > Mugs", "color": "Green"},
    {"id": "FRAME-1", "title": "Oak Picture Frame", "price": "19.00 GBP", "availability": "out_of_stock",
     "availability_date": "2027-03-12", "product_type": "Home > Frames", "material": "Oak"},
    {"id": "CUSH-BLU", "title": "Linen Cushion Cover, blue", "price": "22.00 GBP", "item_group_id": "CUSH",
     "color": "Blue", "availability": "in_stock", "product_type": "Home > Cushions", "material": "Linen"},
    {"id": "CUSH-GRN", "title": "Linen Cushion Cover, green", "price": "22.00 GBP", "item_group_id": "CUSH",
     "color": "Green", "availability": "out_of_stock", "product_type": "Home > Cushions",
     "material": "Linen"},
    {"id": "RUG-1", "title": "Wool Doormat", "price": "30.00 GBP", "availability": "in_stock",
     "product_type": "Home > Rugs", "material": "Wool"},
    {"id": "VASE-1", "title": "Glass Flower Vase", "price": "27.00 GBP", "availability": "in_stock",
     "product_type": "Home > Vases", "material": "Glass"},
    {"id": "CLOCK-1", "title": "Brass Wall Clock", "price": "58.00 GBP", "availability": "in_stock",
     "product_type": "Home > Clocks", "material": "Brass"},
]


def write_feed(path: Path, items: Sequence[Attrs]) -> Path:
    """Write ``items`` as an RSS 2.0 Merchant Center feed at ``path``."""
    path.write_text(xml_feed(items), encoding="utf-8")
    return path


def feed_var(built_var: Path, var: Path, feed: Path) -> Path:
    """A var dir with the built models and indexes of the FAQ, whose catalogue is ``feed``'s."""
    return source_var(built_var, var, MerchantFeed(str(feed)))


def source_var(built_var: Path, var: Path, source: CatalogueSource) -> Path:
    """A var dir with the built models and indexes of the FAQ, whose catalogue is ``source``'s."""
    var.mkdir(parents=True, exist_ok=True)
    for name in ("encoder", "generator", "generator-fast", "router"):
        (var / name).symlink_to(built_var / name, target_is_directory=True)
    (var / "index").mkdir()
    for path in (built_var / "index").glob("routing.*"):
        shutil.copy(path, var / "index" / path.name)
    # The demo's orders stay for the order-status action; the catalogue is the feed's alone.
    (var / "shop").mkdir()
    for name in ("orders.json", "customers.json"):
        shutil.copy(built_var / "shop" / name, var / "shop" / name)
    sync(var, source)
    return var


def sync(var: Path, source: CatalogueSource, *, force: bool = False) -> SyncReport:
    """What `shopbot catalogue sync` does with SHOPBOT_CATALOGUE_SOURCE naming ``source``."""
    settings = Settings(var_dir=var)
    encoder = sentence_encoder(settings.inference_backend, settings.encoder_dir)
    return sync_catalogue(source, settings.shop_dir, settings.index_dir, encoder, force=force)


def feed_settings(var: Path, feed: Path, tmp_path: Path, **overrides: object) -> Settings:
    """The server's settings for the feed shop."""
    return shop_settings(var, f"merchant-feed:{feed}", tmp_path, **overrides)


def shop_settings(var: Path, catalogue_source: str, tmp_path: Path, **overrides: object) -> Settings:
    """The server's settings for a shop whose catalogue comes from ``catalogue_source``."""
    values: dict[str, object] = {
        "var_dir": var, "catalogue_source": catalogue_source,
        "database_url": f"sqlite:///{tmp_path / 'turns.sqlite3'}", "web_dir": REPO_ROOT / "web",
        "journal_dir": tmp_path / "journal", "identity_secret_env": IDENTITY_ENV,
    }
    return Settings(**{**values, **overrides})  # type: ignore[arg-type]
