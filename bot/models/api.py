"""``/api/models``: versions, their gate and replay reports, deploy and rollback (admins).

Evaluation, replay and deploy load routers and run them over the gold set or recent traffic:
they run as jobs in a child process (``bot/models/jobs.py``), one at a time per worker (409
while another runs). A deploy or rollback changes the registry; this worker swaps at once, the
others within ``SHOPBOT_MODEL_CHECK_EVERY_S``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bot.auth.guard import Role, requires
from bot.lifecycle.registry import ModelKind
from bot.models.keys import JOBS, LIVE_MODELS
from bot.serving.actions import RECOMMENDER
from bot.serving.models import GENERATION, REGISTRY, UNDERSTANDING
from bot.serving.turnlog import SINK
from bot.web.auth import current_user
from bot.web.body import read_json
from bot.web.openapi import operation
from core.errors import Conflict

TAGS = ("models",)
# kind-YYYYmmdd-HHMMSS-datahash(6)[-n], as the registry names versions.
VERSION = r"[a-z]{1,16}-[0-9]{8}-[0-9]{6}-[0-9a-f]{6}(?:-[0-9]{1,4})?"


class ModelOut(BaseModel):
    """One registered version."""

    version: str
    kind: str
    state: str
    data_hash: str
    settings: dict[str, Any]
    metrics: dict[str, Any]
    created_by: str
    created_at: str


class EventOut(BaseModel):
    """One deploy or rollback."""

    id: int
    kind: str
    action: str
    version: str
    previous: str | None
    actor: str
    forced: bool
    metrics: dict[str, Any]
    ts: str


class ModelList(BaseModel):
    """Every version, the live one per kind, what this worker serves, and the deploy history."""

    live: dict[str, str | None]
    serving: dict[str, str]
    models: list[ModelOut]
    events: list[EventOut]


class ReplayBody(BaseModel):
    """How much recent traffic to replay."""

    model_config = ConfigDict(extra="forbid")

    limit: int | None = Field(default=None, ge=1, le=100_000)
    since: datetime | None = None


class DeployBody(BaseModel):
    """``force`` deploys a candidate that fails the gate (recorded as forced)."""

    model_config = ConfigDict(extra="forbid")

    force: bool = False


class Report(BaseModel):
    """A gate or replay report (docs/lifecycle.md describes its keys)."""

    model_config = ConfigDict(extra="allow")


class EventReply(BaseModel):
    """The recorded event and the version this worker now serves."""

    event: EventOut
    serving: str


class RollbackBody(BaseModel):
    """Which kind of model to roll back."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["router", "generator", "recommender"] = "router"


def _serving(request: web.Request, kind: ModelKind = ModelKind.ROUTER) -> str:
    if kind is ModelKind.GENERATOR:
        return request.config_dict[GENERATION].generator.version
    if kind is ModelKind.RECOMMENDER:
        # Before the first deploy, the fit on the transactions serves.
        follower = request.config_dict.get(RECOMMENDER)
        return (follower.serving if follower is not None else None) or "transactions"
    return request.config_dict[UNDERSTANDING].understanding.version


def _not_a_recommender(version: str) -> None:
    # A recommender's gate is its held-out orders (bot/training/recommender_gate.py), not the router's.
    if version.startswith(f"{ModelKind.RECOMMENDER}-"):
        raise Conflict("recommender versions are gated and deployed by `shopbot refit-recommender` "
                       "(and `shopbot deploy`), not here")


async def _changed(request: web.Request, event: dict[str, Any]) -> web.Response:
    """This worker swaps now (the others on their next check); the event and what it serves."""
    kind = ModelKind(event["kind"])
    follower = request.app[LIVE_MODELS].get(kind) or request.config_dict.get(RECOMMENDER)
    if follower is not None:
        await follower.refresh()
    return web.json_response({"event": event, "serving": _serving(request, kind)})


@operation("List model versions", response=ModelList, tags=TAGS)
@requires(Role.ADMIN)
async def list_models(request: web.Request) -> web.Response:
    """Registered versions (newest first), live versions and the last deploys and rollbacks."""
    registry = request.config_dict[REGISTRY]
    models = await asyncio.to_thread(registry.versions)
    events = await asyncio.to_thread(registry.events)
    live = {str(k): next((m.version for m in models if m.kind is k and str(m.state) == "live"), None)
            for k in ModelKind}
    return web.json_response({
        "live": live, "serving": {str(k): _serving(request, k) for k in ModelKind},
        "models": [m.to_json() for m in models], "events": [e.to_json() for e in events],
    })


@operation("One model version", response=ModelOut, tags=TAGS, responses={404: "no such version"})
@requires(Role.ADMIN)
async def get_model(request: web.Request) -> web.Response:
    """A version with its training, gate and replay metrics."""
    found = await asyncio.to_thread(request.config_dict[REGISTRY].get, request.match_info["version"])
    return web.json_response(found.to_json())


@operation("Evaluate a candidate (the gate)", response=Report, tags=TAGS, body_required=False,
           responses={404: "no such version", 409: "another model operation is running",
                      503: "a version's files are missing or damaged"},
           description="Gold-set and held-out metrics of the version and the live version, each "
                       "check against its threshold, and whether it passes.")
@requires(Role.ADMIN)
async def evaluate(request: web.Request) -> web.Response:
    """Run the gate on a version."""
    _not_a_recommender(request.match_info["version"])
    report = await request.app[JOBS].run("evaluate", version=request.match_info["version"])
    return web.json_response(report)


@operation("Replay recent traffic through a candidate", request_body=ReplayBody, response=Report,
           tags=TAGS, body_required=False,
           responses={404: "no such version", 409: "another model operation is running"},
           description="The last `limit` shopper messages (redacted) routed by the version and by "
                       "the live version: newly answered, newly declined and changed answers.")
@requires(Role.ADMIN)
async def replay(request: web.Request) -> web.Response:
    """Replay the shop's recent messages through a version."""
    _not_a_recommender(request.match_info["version"])
    body = await read_json(request, ReplayBody, empty=ReplayBody())
    await request.config_dict[SINK].flushed()
    report = await request.app[JOBS].run("replay", version=request.match_info["version"], limit=body.limit,
                                         since=body.since.isoformat() if body.since else None)
    return web.json_response(report)


@operation("Deploy a version", request_body=DeployBody, response=EventReply, tags=TAGS, body_required=False,
           responses={404: "no such version", 409: "fails the gate, already live, or busy",
                      503: "the version's files are missing or damaged"},
           description="Runs the gate; a version that fails it is refused unless `force`. Every "
                       "worker then swaps to it without a restart.")
@requires(Role.ADMIN)
async def deploy(request: web.Request) -> web.Response:
    """Make a version live."""
    _not_a_recommender(request.match_info["version"])
    body = await read_json(request, DeployBody, empty=DeployBody())
    by = current_user(request).username
    event = await request.app[JOBS].run("deploy", version=request.match_info["version"], actor=by,
                                        force=body.force)
    return await _changed(request, event)


@operation("Roll back the router (or the generator)", request_body=RollbackBody, response=EventReply,
           tags=TAGS, body_required=False, responses={409: "nothing to roll back to, or busy"},
           description="The version live before the current one is live again, on every worker.")
@requires(Role.ADMIN)
async def rollback(request: web.Request) -> web.Response:
    """Go back to the previous live version."""
    body = await read_json(request, RollbackBody, empty=RollbackBody())
    by = current_user(request).username
    kind = ModelKind(body.kind)
    async with request.app[JOBS].one_at_a_time():
        event = await asyncio.to_thread(request.config_dict[REGISTRY].roll_back, kind, actor=by)
    return await _changed(request, event.to_json())


# Under /api/models.
ROUTES = (
    web.get("", list_models),
    web.post("/rollback", rollback),
    web.get(f"/{{version:{VERSION}}}", get_model),
    web.post(f"/{{version:{VERSION}}}/evaluate", evaluate),
    web.post(f"/{{version:{VERSION}}}/replay", replay),
    web.post(f"/{{version:{VERSION}}}/deploy", deploy),
)
