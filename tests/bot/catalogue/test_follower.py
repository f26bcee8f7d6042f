"""The follower loads a stored catalogue once when it is the one served under another record's
version (an index rebuilt by `shopbot setup` for a new encoder), not at every check."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bot.catalogue.follower import CatalogueFollower
from core.settings import Settings
from monitoring.metrics import ShopbotMetrics
from retrieval.catalogue.live import LiveCatalogue
from retrieval.catalogue.store import META
from retrieval.catalogue.sync import load_state, stored_version
from retrieval.embeddings import sentence_encoder
from tests.bot.catalogue.shop import ITEMS, feed_var, write_feed

pytestmark = pytest.mark.timeout(120)
NOT_LOADED = "catalogue not loaded"


def record_version(shop_dir: Path, version: str) -> None:
    """Rewrite the last sync's record as if it had written ``version``."""
    meta = json.loads((shop_dir / META).read_text(encoding="utf-8"))
    (shop_dir / META).write_text(json.dumps({**meta, "version": version}), encoding="utf-8")


async def test_a_stale_record_loads_the_served_catalogue_once_then_a_new_one_again(
    built_var: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var = feed_var(built_var, tmp_path / "var", write_feed(tmp_path / "feed.xml", ITEMS))
    settings = Settings(var_dir=var)
    state = load_state(settings.shop_dir, settings.index_dir)
    assert state is not None and stored_version(settings.shop_dir) == state.version
    follower = CatalogueFollower(
        LiveCatalogue(state), None, shop_dir=settings.shop_dir, index_dir=settings.index_dir,
        encoder=sentence_encoder(settings.inference_backend, settings.encoder_dir),
        metrics=ShopbotMetrics(), sync_every_s=0, check_every_s=2)

    # What an upgrade leaves: the index rebuilt for a new encoder, the record of the sync before.
    record_version(settings.shop_dir, "an-earlier-encoders-index")
    assert not await follower.refresh()
    assert follower.live.state is state

    # Loaded once: with the products now unreadable, no check reads them again.
    (settings.shop_dir / "products.json").write_text("not json", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="retrieval.catalogue.sync"):
        for _ in range(3):
            assert not await follower.refresh()
    assert NOT_LOADED not in caplog.text

    # A new sync's record is examined again (and, unreadable here, changes nothing served).
    record_version(settings.shop_dir, "a-later-sync")
    with caplog.at_level(logging.WARNING, logger="retrieval.catalogue.sync"):
        assert not await follower.refresh()
    assert NOT_LOADED in caplog.text
    assert follower.live.state is state
