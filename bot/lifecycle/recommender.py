"""Serving the registry's recommender versions: loaded only once their files verify.

A worker loads the live version at start (``ShopServices.load(..., live_recommender=...)``) and
follows deploys and rollbacks like the router's (``recommender_follower``): the new version is
verified and loaded on a thread, then swapped into the shop services in one assignment.
"""

from __future__ import annotations

from functools import partial

from actions.recommender import Recommender
from actions.recommender_store import load_version
from actions.services import ShopServices
from bot.lifecycle.live import LiveModel
from bot.lifecycle.registry import ModelKind, ModelRegistry, ModelVersion
from monitoring.metrics import ShopbotMetrics


def load_recommender(registry: ModelRegistry, version: ModelVersion) -> Recommender:
    """A recommender version's model; ``NotReady`` when its files do not match the manifest."""
    registry.verify(version)
    return load_version(version.path)


def live_recommender(registry: ModelRegistry) -> tuple[str, Recommender] | None:
    """The live recommender version's name and model, or None while none was deployed."""
    live = registry.live(ModelKind.RECOMMENDER)
    if live is None:
        return None
    return live.version, load_recommender(registry, live)


def live_loader(registry: ModelRegistry) -> partial[tuple[str, Recommender] | None]:
    """``live_recommender`` bound to ``registry``: what ``ShopServices.load`` takes."""
    return partial(live_recommender, registry)


def recommender_follower(
    registry: ModelRegistry,
    services: ShopServices,
    metrics: ShopbotMetrics,
    *,
    check_every_s: float = 2.0,
) -> LiveModel[tuple[str, Recommender]]:
    """Keep ``services`` on the live recommender version (start it with ``await .start()``)."""

    def load(version: ModelVersion) -> tuple[str, Recommender]:
        # LiveModel verifies the files before it calls this.
        return version.version, load_version(version.path)

    def swap(loaded: tuple[str, Recommender]) -> None:
        services.swap_recommender(loaded[1], loaded[0])

    return LiveModel(ModelKind.RECOMMENDER, registry, load, swap, metrics,
                     serving=services.recommender_version, check_every_s=check_every_s)
