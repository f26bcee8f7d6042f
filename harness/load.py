"""What closed-loop shoppers ask a real server, and the checks that every acknowledged turn was logged.

Shared by the durability tests (tests/bot/test_durability.py), the cluster test and the soak
benchmark (bench/soak.py), so the figures in docs/reliability.md come from the same load the
tests assert on.
"""

from __future__ import annotations

import aiohttp

from core.db import make_engine
from harness.polling import until
from harness.server_process import ShopbotProcess
from monitoring.turnlog import TurnLog

# One question of each kind the server answers: FAQ, product search and rasa-sdk actions.
FAQ = ["how long does delivery take?", "can I return an item?", "what payment methods do you accept?"]
PRODUCTS = ["do you sell cookie jars?", "show me christmas decorations"]
ACTIONS = ["recommend something", "any gift ideas?"]
MESSAGES = FAQ + PRODUCTS + ACTIONS


def logged_ids(url: str) -> set[str]:
    """The turn ids in the turn log at database ``url``."""
    engine = make_engine(url)
    try:
        return TurnLog(engine).turn_ids()
    finally:
        engine.dispose()


async def drained(server: ShopbotProcess, timeout_s: float = 60.0) -> dict[str, object]:
    """Wait until the server reports an empty journal backlog and a reachable database; its report."""
    last: dict[str, object] = {}
    async with aiohttp.ClientSession() as http:

        async def empty_backlog() -> dict[str, object] | None:
            status, body = await server.ready(http)
            last.update(status=status, body=body)
            return body if status == 200 and body["journal"]["backlog"] == 0 else None

        return await until(empty_backlog, timeout_s=timeout_s, interval_s=0.25,
                           what="an empty journal backlog and a reachable database",
                           show=lambda: f"/health/ready said {last}")
