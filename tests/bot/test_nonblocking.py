"""FAQ turns keep being answered promptly while a generation is running."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from bot.generation.generator import Generation, Gpt2Generator
from bot.server import create_app
from core.settings import Settings


class HeldGenerator(Gpt2Generator):
    """The real tiny GPT-2, held inside ``run`` until the test lets it go.

    Holding it makes "a generation is running" a fact the test controls instead of a race
    against how fast the tiny model happens to be.
    """

    def __init__(self, model_dir: Path) -> None:
        super().__init__(model_dir)
        self.started = threading.Event()
        self.release = threading.Event()

    def run(self, question: str, passages: Sequence[str], *, max_time_s: float,
            copy_bias: float = 0.0) -> Generation:
        self.started.set()
        self.release.wait(timeout=30)
        return super().run(question, passages, max_time_s=max_time_s, copy_bias=copy_bias)


async def test_faq_answers_flow_during_generation(aiohttp_client, shop_settings: Settings) -> None:  # type: ignore[no-untyped-def]
    settings = shop_settings.model_copy(update={"generation_timeout_s": 30.0})
    generator = HeldGenerator(settings.generator_dir)
    client = await aiohttp_client(create_app(settings, generator=generator))
    url = "/webhooks/rest/webhook"
    generating = asyncio.create_task(
        client.post(
            url, json={"sender": "g", "message": "is the glass cookie jar good for storing biscuits?"}
        )
    )
    assert await asyncio.to_thread(generator.started.wait, 10)

    start = time.perf_counter()
    answers = await asyncio.gather(
        *(
            client.post(url, json={"sender": f"f{i}", "message": "how long does delivery take?"})
            for i in range(5)
        )
    )
    elapsed = time.perf_counter() - start
    assert all(a.status == 200 for a in answers)
    assert not generating.done(), "the generation was still running meanwhile"
    assert elapsed < 5, f"FAQ turns took {elapsed:.1f}s while a generation ran"

    generator.release.set()
    resp = await asyncio.wait_for(generating, 30)
    assert resp.status == 200 and (await resp.json())[0]["text"]
