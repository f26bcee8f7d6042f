"""Typed keys of the model operations feature's own objects."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.lifecycle.live import LiveModel
from bot.lifecycle.registry import ModelKind
from bot.models.jobs import ModelJobs

# The followers of the registry's live router and generator on this worker.
LIVE_MODELS: web.AppKey[dict[ModelKind, LiveModel[Any]]] = web.AppKey("live_models")
# Gate, replay and deploy jobs, one at a time per worker.
JOBS = web.AppKey("model_jobs", ModelJobs)
