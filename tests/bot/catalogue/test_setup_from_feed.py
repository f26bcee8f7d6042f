"""A shop that set Shopbot up on the demo points SHOPBOT_CATALOGUE_SOURCE at its own Merchant Center
feed (one written by an exporter, not by us), runs `shopbot setup`, and the bot answers product
searches, prices, stock and variants from it; after the file changes, `shopbot catalogue sync`
makes the running bot answer with the new facts."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.serving.knowledge import KNOWLEDGE
from core.shop import load_products
from retrieval.catalogue.store import read_meta
from tests.bot.catalogue.shop import shop_settings
from tests.bot.catalogue.test_live_catalogue import ask, codes_of, text_of, until

pytestmark = pytest.mark.timeout(900)

FEED = Path(__file__).parents[2] / "fixtures" / "feeds" / "woocommerce_export.xml"


def demo_var(built_var: Path, var: Path) -> Path:
    """A var set up on the demo (a copy: setup rewrites the catalogue and retrains the generator)."""
    var.mkdir(parents=True)
    for name in ("encoder", "router"):
        (var / name).symlink_to(built_var / name, target_is_directory=True)
    for name in ("shop", "index", "generator", "generator-fast"):
        shutil.copytree(built_var / name, var / name)
    return var


async def test_setup_then_run_answer_from_the_shops_own_feed(
    aiohttp_client: Any, built_var: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.server import create_app

    var = demo_var(built_var, tmp_path / "var")
    feed = shutil.copy(FEED, tmp_path / "products.xml")
    monkeypatch.setenv("SHOPBOT_VAR_DIR", str(var))
    monkeypatch.setenv("SHOPBOT_CATALOGUE_SOURCE", f"merchant-feed:{feed}")
    monkeypatch.setenv("SHOPBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'turns.sqlite3'}")
    assert main(["setup", "--tiny"]) == 0
    codes = {p.stock_code for p in load_products(var / "shop")}
    assert codes == {"1041", "1077-blue", "1077-rust", "1102", "1120"}
    assert read_meta(var / "shop")["source"] == f"merchant-feed:{feed}"
    capsys.readouterr()

    client = await aiohttp_client(create_app(shop_settings(var, f"merchant-feed:{feed}", tmp_path,
                                                           catalogue_sync_every_s=0)))
    assert "1041" in codes_of(await ask(client, "a", "do you sell coffee drippers?"))
    assert "$62.00" in text_of(await ask(client, "b", "how much is the hammered copper watering can?"))
    stock = text_of(await ask(client, "b", "is it in stock?")).lower()
    assert "backorder" in stock and "15 january 2027" in stock, stock
    # The chat cannot fill a basket: it says where, the feed's own page, with the price and stock.
    basket = text_of(await ask(client, "b", "ok add it to my basket"))
    assert "you can add the Hammered Copper Watering Can on its page: " \
        "https://copperandclay.example/product/copper-watering-can/." in basket, basket
    assert "$62.00" in basket and "backorder" in basket.lower(), basket
    runners = codes_of(await ask(client, "c", "do you have linen table runners?"))
    assert {"1077-blue", "1077-rust"} & set(runners), runners
    colours = text_of(await ask(client, "c", "what colours does it come in?")).lower()
    assert "slate blue" in colours and "rust" in colours, colours

    shutil.copy(FEED, feed)
    Path(feed).write_text(Path(feed).read_text(encoding="utf-8").replace("34.00 USD", "29.00 USD"),
                          encoding="utf-8")
    assert main(["catalogue", "sync"]) == 0
    assert "1 changed" in capsys.readouterr().out

    async def repriced() -> bool:
        said = text_of(await ask(client, "d", "how much is the stoneware pour-over coffee dripper?"))
        return "$29.00" in said

    await until(repriced, 30)
    assert client.app[KNOWLEDGE].product_by_code["1041"].price == 29.0
