"""The catalogue sync: only changed passages re-encoded, an unchanged file not read again, refused
input and shrinks leave the catalogue as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import BadRequest
from core.settings import Settings
from core.shop import load_products
from harness.feeds import xml_feed
from retrieval.catalogue.feed_source import MerchantFeed
from retrieval.catalogue.store import read_meta, write_meta
from retrieval.catalogue.sync import (
    SyncReport,
    load_state,
    record_rebuilt_index,
    stored_version,
    sync_catalogue,
)
from retrieval.embeddings import Encoder, sentence_encoder
from retrieval.knowledge import KnowledgeEntry
from retrieval.knowledge_base import load_knowledge_base

ITEMS = [{"id": f"P{i}", "title": f"Ceramic Planter No. {i}", "price": f"{10 + i}.00 GBP"} for i in range(10)]


@pytest.fixture(scope="module")
def encoder(built_var: Path) -> Encoder:
    settings = Settings(var_dir=built_var)
    return sentence_encoder(settings.inference_backend, settings.encoder_dir)


def _first_sync(tmp_path: Path, encoder: Encoder) -> tuple[Path, Path, Path, SyncReport]:
    """A feed of ``ITEMS`` synced into a fresh shop: the feed, shop and index dirs, the report."""
    feed = tmp_path / "feed.xml"
    feed.write_text(xml_feed(ITEMS), encoding="utf-8")
    shop, index = tmp_path / "shop", tmp_path / "index"
    return feed, shop, index, sync_catalogue(MerchantFeed(str(feed)), shop, index, encoder)


def test_a_sync_encodes_what_changed_and_skips_an_unchanged_file(tmp_path: Path, encoder: Encoder) -> None:
    feed, shop, index, first = _first_sync(tmp_path, encoder)
    assert (first.added, first.encoded, first.written) == (10, 10, True)

    again = sync_catalogue(MerchantFeed(str(feed)), shop, index, encoder)
    assert not again.written and again.read_s == 0.0, "the same file is not read twice"

    changed = [dict(i) for i in ITEMS if i["id"] != "P9"]
    changed[0]["price"] = "99.00 GBP"  # a new passage (it holds the price)
    changed[1]["availability"] = "out_of_stock"  # the same passage: nothing to encode
    changed.append({"id": "N1", "title": "Jute Doormat", "price": "15.00 GBP"})
    feed.write_text(xml_feed(changed), encoding="utf-8")
    report = sync_catalogue(MerchantFeed(str(feed)), shop, index, encoder)
    assert (report.added, report.changed, report.repriced, report.removed, report.encoded) == (1, 2, 1, 1, 2)
    state = load_state(shop, index)
    assert state is not None and state.version == report.version == read_meta(shop)["version"]
    assert state.by_code["P0"].price == 99.0 and "P9" not in state.by_code
    # The vectors reused are those the encoder gives: a search finds the new product.
    hit = state.index.search(encoder.encode(["doormat"]), 1)[0]
    assert state.index.ids[hit.rows[0]] == "N1"


class _Upgraded:
    """The same vectors under a new version: an encoder upgrade as ``shopbot setup`` sees one."""

    def __init__(self, encoder: Encoder) -> None:
        self._encoder = encoder
        self.version, self.dim = f"{encoder.version}+next", encoder.dim

    def warm_up(self) -> None:
        self._encoder.warm_up()

    def encode(self, texts: list[str]) -> np.ndarray:
        return self._encoder.encode(texts)


def test_an_index_rebuilt_for_a_new_encoder_is_what_the_sync_record_names(
    tmp_path: Path, encoder: Encoder
) -> None:
    feed, shop, index, synced = _first_sync(tmp_path, encoder)
    entries = [KnowledgeEntry("returns", ("how do I return an order",), "Within 30 days.")]

    kb, rebuilt = load_knowledge_base(entries, shop, index, _Upgraded(encoder))
    assert "products" in rebuilt and kb.catalogue.state.version != synced.version
    # The record names the index served now, so followers and /catalogue compare like with like.
    assert stored_version(shop) == kb.catalogue.state.version == load_state(shop, index).version
    assert read_meta(shop)["source"] == synced.source and read_meta(shop)["products"] == len(ITEMS)
    served = kb.catalogue.state.version
    assert record_rebuilt_index(shop, index, served) is None, "already recorded: nothing to write"
    # A record an older release left behind is mended at the next load, with nothing rebuilt.
    write_meta(shop, {**read_meta(shop), "version": synced.version})
    kb, rebuilt = load_knowledge_base(entries, shop, index, _Upgraded(encoder))
    assert rebuilt == [] and stored_version(shop) == kb.catalogue.state.version
    # An unchanged feed is still not read again, and reports the version served.
    again = sync_catalogue(MerchantFeed(str(feed)), shop, index, _Upgraded(encoder))
    assert not again.written and again.version == kb.catalogue.state.version


def test_no_record_is_written_where_no_sync_ever_ran(tmp_path: Path) -> None:
    assert record_rebuilt_index(tmp_path / "shop", tmp_path / "index", "any") is None
    assert not (tmp_path / "shop").exists()


def test_refused_input_and_a_big_shrink_change_nothing(tmp_path: Path, encoder: Encoder) -> None:
    feed, shop, index, first = _first_sync(tmp_path, encoder)
    served = first.version

    feed.write_text("<rss><channel><item>", encoding="utf-8")
    with pytest.raises(BadRequest, match="line 1"):
        sync_catalogue(MerchantFeed(str(feed)), shop, index, encoder)
    feed.write_text(xml_feed(ITEMS[:4]), encoding="utf-8")
    with pytest.raises(BadRequest, match="would remove 6 of the 10"):
        sync_catalogue(MerchantFeed(str(feed)), shop, index, encoder)
    assert read_meta(shop)["version"] == served and len(load_products(shop)) == 10

    forced = sync_catalogue(MerchantFeed(str(feed)), shop, index, encoder, force=True)
    assert forced.removed == 6 and len(load_products(shop)) == 4


def test_a_wrong_encoding_and_a_10_mib_description_are_named_and_nothing_served_is_lost(
    tmp_path: Path, encoder: Encoder
) -> None:
    feed, shop, index, first = _first_sync(tmp_path, encoder)
    served = first.version

    # Latin-1 bytes in a file that says it is UTF-8: refused, naming the line and byte.
    latin = xml_feed([*ITEMS[:9], {"id": "P9", "title": "Planter Café", "price": "19.00 GBP"}])
    feed.write_bytes(latin.encode("latin-1"))
    with pytest.raises(BadRequest, match=r"line \d+"):
        sync_catalogue(MerchantFeed(str(feed)), shop, index, encoder)
    assert read_meta(shop)["version"] == served

    # A 10 MiB description spoils its own item only: it is left out and named; the rest syncs.
    big = {"id": "BIG", "title": "Huge Planter", "price": "5.00 GBP", "description": "x" * (10 * 2**20 + 1)}
    huge = [*ITEMS, big]
    feed.write_text(xml_feed(huge), encoding="utf-8")
    report = sync_catalogue(MerchantFeed(str(feed)), shop, index, encoder)
    assert report.products == 10 and "BIG" not in {p.stock_code for p in load_products(shop)}
    assert any("BIG" in s and "MiB" in s for s in report.skipped), report.skipped


def test_a_feed_url_is_fetched_each_sync_and_an_unreachable_one_changes_nothing(
    tmp_path: Path, encoder: Encoder
) -> None:
    import functools
    import http.server
    import threading

    from core.errors import Unavailable

    site = tmp_path / "site"
    site.mkdir()
    (site / "feed.xml").write_text(xml_feed(ITEMS), encoding="utf-8")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/feed.xml?key=s3cret"
    shop, index = tmp_path / "shop", tmp_path / "index"
    try:
        source = MerchantFeed(url)
        assert "s3cret" not in source.name, "a feed's key never reaches a log or report"
        assert sync_catalogue(source, shop, index, encoder).products == 10
        more = [*ITEMS, {"id": "N", "title": "Jute Mat", "price": "9.00 GBP"}]
        (site / "feed.xml").write_text(xml_feed(more), encoding="utf-8")
        assert sync_catalogue(source, shop, index, encoder).added == 1, "fetched again, not skipped"
        with pytest.raises(BadRequest, match="over 0 MiB"):
            sync_catalogue(MerchantFeed(url, max_bytes=100), shop, index, encoder)
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(Unavailable, match="could not be fetched"):
        sync_catalogue(MerchantFeed(url, timeout_s=2), shop, index, encoder)
    assert len(load_products(shop)) == 11
