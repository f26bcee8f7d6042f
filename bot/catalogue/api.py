"""``/api/catalogue``: what the catalogue is now, and a sync on demand (admins)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bot.auth.guard import Role, requires
from bot.catalogue.keys import FOLLOWER
from bot.web.body import read_json
from bot.web.openapi import operation

TAGS = ("catalogue",)


class CatalogueStatus(BaseModel):
    """The catalogue this worker answers from, and the last sync recorded."""

    model_config = ConfigDict(extra="allow")

    source: str | None = Field(description="SHOPBOT_CATALOGUE_SOURCE, without credentials")
    serving: dict[str, Any] = Field(description="version, products and since: what this worker answers from")
    stored: dict[str, Any] = Field(description="what the last sync (any worker's or the command's) wrote")
    skipped: list[str] = Field(description="the first items the last sync left out, and why")
    last_error: str | None = Field(description="this worker's last failed sync (the catalogue kept serving)")


class SyncBody(BaseModel):
    """``force`` accepts a sync that removes more than half the catalogue."""

    model_config = ConfigDict(extra="forbid")

    force: bool = False


class SyncReply(BaseModel):
    """What the sync read and changed."""

    model_config = ConfigDict(extra="allow")

    source: str
    version: str
    products: int
    added: int
    changed: int
    removed: int
    skipped: list[str]


@operation("The catalogue now", response=CatalogueStatus, tags=TAGS)
@requires(Role.ADMIN)
async def get_catalogue(request: web.Request) -> web.Response:
    """Source, version served, and the last sync's counts and skipped items."""
    return web.json_response(request.app[FOLLOWER].status())


@operation("Sync the catalogue now", request_body=SyncBody, response=SyncReply, tags=TAGS,
           responses={400: "the source's data was refused (nothing changed)",
                      409: "the catalogue is the demo's: there is no source to sync",
                      503: "the source could not be reached (nothing changed)"},
           body_required=False)
@requires(Role.ADMIN)
async def sync_now(request: web.Request) -> web.Response:
    """Read the source now and answer from what it holds (this worker at once, the others within
    their next check)."""
    body = await read_json(request, SyncBody, empty=SyncBody())
    report = await request.app[FOLLOWER].sync(force=body.force)
    return web.json_response({
        "source": report.source, "version": report.version, "products": report.products,
        "added": report.added, "changed": report.changed, "removed": report.removed,
        "encoded": report.encoded, "skipped": list(report.skipped[:100]), "total_s": report.total_s,
    })
