"""The turn journal's disk fills up under the real app (a 256 KiB tmpfs): turns are refused with
503 and ``Retry-After``, never 500; ``/health/ready`` says why until there is room again; and
after a restart the turn log holds exactly the turns that were acknowledged."""

from __future__ import annotations

import asyncio
from pathlib import Path

from core.db import make_engine
from core.settings import Settings
from monitoring.turnlog import TurnLog
from tests.small_disk import fill, small_disk

URL = "/webhooks/rest/webhook"
TEXTS = ["how long does delivery take?", "can I return an item?", "where is my order 1001",
         "what payment methods do you accept?"]


async def test_a_full_journal_disk_refuses_turns_with_503_and_logs_only_acknowledged_ones(
    aiohttp_client, shop_settings: Settings, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    from bot.server import create_app

    with small_disk(tmp_path / "disk") as disk:
        settings = shop_settings.model_copy(update={"journal_dir": disk / "journal"})
        client = await aiohttp_client(create_app(settings))
        acknowledged: list[str] = []
        statuses: list[int] = []

        async def turn(n: int) -> None:
            body = {"sender": f"full-{n % 8}", "message": TEXTS[n % len(TEXTS)]}
            resp = await client.post(URL, json=body)
            statuses.append(resp.status)
            if resp.status == 200:
                acknowledged.append(resp.headers["X-Shopbot-Turn-Id"])
            else:
                assert resp.status == 503, await resp.text()
                assert int(resp.headers["Retry-After"]) > 0
                assert (await resp.json())["error"]["code"] == "storage_full"

        for n in range(8):
            await turn(n)
        assert statuses == [200] * 8
        filler = fill(disk)
        # Concurrent turns on a full disk: each one acknowledged (a write that still fit the
        # journal file's last allocated page) or refused with 503, never 500.
        for wave in range(3):
            await asyncio.gather(*(turn(100 + wave * 10 + n) for n in range(10)))
        assert set(statuses) <= {200, 503}, statuses
        assert statuses.count(503) >= 5, statuses
        # One at a time until one is refused: readiness then says why, until there is room.
        for n in range(50):
            await turn(300 + n)
            if statuses[-1] == 503:
                break
        assert statuses[-1] == 503, statuses
        resp = await client.get("/health/ready")
        body = await resp.json()
        assert resp.status == 503 and "full" in body["journal"]["error"], body

        filler.unlink()
        resp = await client.get("/health/ready")
        assert resp.status == 200, await resp.text()
        for n in range(8):
            await turn(200 + n)
        assert statuses[-8:] == [200] * 8
        await client.close()  # a clean stop: the journal's leftovers wait for the next start

        # Restart: whatever the journal still holds is replayed; nothing refused comes back.
        again = await aiohttp_client(create_app(settings))
        await again.close()
        logged = sorted(r.turn_id for r in TurnLog(make_engine(settings.resolved_database_url())).records())
        assert logged == sorted(acknowledged)
        assert len(logged) == statuses.count(200) >= 16
