"""The catalogue source ``SHOPBOT_CATALOGUE_SOURCE`` names (docs/shop-data.md)."""

from __future__ import annotations

from pathlib import Path

from core.errors import NotReady
from retrieval.catalogue.demo import DemoCatalogue
from retrieval.catalogue.feed_source import MerchantFeed
from retrieval.catalogue.source import CatalogueSource

SCHEMES = ("demo", "merchant-feed", "shopify-csv", "shopify", "oscar")


def catalogue_source(spec: str, shop_dir: Path, secret: bytes | None = None, secret_env: str = "",
                     shop_url: str | None = None, currency: str | None = None) -> CatalogueSource:
    """The source ``spec`` names: ``demo``, ``merchant-feed:PATH_OR_URL``, ``shopify-csv:PATH``,
    ``shopify:STORE`` (Admin API; the access token in the env var ``secret_env`` names) or
    ``oscar:BASE_URL`` (django-oscar's API; an API token in that env var, when the shop needs one).

    ``shop_url`` is the shop's own address and ``currency`` its prices' (a Shopify CSV export
    says neither).
    """
    scheme, _, argument = spec.strip().partition(":")
    if scheme == "demo":
        return DemoCatalogue(shop_dir)
    if not argument:
        raise NotReady(f"SHOPBOT_CATALOGUE_SOURCE {spec!r} names no {'path' if 'csv' in scheme else 'place'}")
    if scheme == "merchant-feed":
        return MerchantFeed(argument)
    if scheme == "shopify-csv":
        from retrieval.catalogue.shopify_csv import ShopifyCsv

        return ShopifyCsv(Path(argument), shop_url=shop_url, currency=currency)
    if scheme == "shopify":
        from retrieval.catalogue.shopify_admin import ShopifyAdmin

        token = _needed(secret, secret_env, "the shop's Admin API access token").decode()
        return ShopifyAdmin(argument, token)
    if scheme == "oscar":
        from retrieval.catalogue.oscar import OscarCatalogue

        # The product API is public; a token, when set, is sent (a shop may close its API).
        return OscarCatalogue(argument, token=secret.decode() if secret else None)
    raise NotReady(f"unknown SHOPBOT_CATALOGUE_SOURCE scheme {scheme!r} ({', '.join(SCHEMES)})")


def _needed(secret: bytes | None, secret_env: str, what: str) -> bytes:
    if not secret:
        raise NotReady(f"{secret_env or 'the catalogue secret env var'} is not set: it must hold {what}")
    return secret
