"""A worker following the registry through a database outage: it keeps serving, and says so once
per minute instead of a traceback every check."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest

from bot.lifecycle.live import LiveModel
from bot.lifecycle.registry import ModelKind, ModelRegistry
from core.db import make_engine
from monitoring.metrics import ShopbotMetrics


async def test_an_outage_is_logged_once_not_at_every_check(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A PostgreSQL nobody listens for: every check is refused as in an outage.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = make_engine(f"postgresql://shopbot@127.0.0.1:{port}/shopbot")
    registry = ModelRegistry(engine, tmp_path / "models")
    swapped: list[object] = []
    live = LiveModel(ModelKind.ROUTER, registry, load=lambda v: v, swap=swapped.append,
                     metrics=ShopbotMetrics(), serving=None, check_every_s=0.01)
    with caplog.at_level(logging.WARNING, logger="bot.lifecycle.live"):
        await live.start()
        await asyncio.sleep(1.5)  # many checks, each refused
        await live.close()
    lines = [r for r in caplog.records if r.name == "bot.lifecycle.live"]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert "could not check the live router version" in lines[0].getMessage()
    assert not lines[0].exc_info, "an outage is not a bug: no traceback"
    assert swapped == []
    engine.dispose()
