"""Typed keys of the catalogue feature."""

from __future__ import annotations

from aiohttp import web

from bot.catalogue.follower import CatalogueFollower

# This worker's follower of the synced catalogue.
FOLLOWER = web.AppKey("catalogue_follower", CatalogueFollower)
