"""The gate, replays and deploys, run in a child process (``python -m bot.training.jobs``).

A serving worker never imports the training code: each operation starts a fresh interpreter
that loads the two routers (or generators) it compares, answers with one JSON object and
exits, its memory with it. One operation at a time per worker; another is refused (409).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

from core.errors import Conflict, Unavailable, error_for
from core.settings import Settings

MODULE = "bot.training.jobs"


class ModelJobs:
    """Runs model operations as jobs with this worker's settings."""

    def __init__(self, settings: Settings, *, timeout_s: float = 1800.0,
                 python: str = sys.executable) -> None:
        # The settings travel as JSON: a job sees exactly the configuration this worker has
        # (secrets stay env-var names; the child inherits the environment that holds them).
        self._settings = json.loads(settings.model_dump_json())
        self.timeout_s = timeout_s
        self.python = python
        self._busy = asyncio.Lock()

    @property
    def running(self) -> bool:
        """Whether a model operation holds this worker's slot now."""
        return self._busy.locked()

    @contextlib.asynccontextmanager
    async def one_at_a_time(self) -> AsyncIterator[None]:
        """Hold this worker's model-operation slot; Conflict while another operation runs."""
        if self._busy.locked():
            raise Conflict("another model operation is running in this worker; try again when it ends")
        async with self._busy:
            yield

    async def run(self, op: str, **args: Any) -> dict[str, Any]:
        """Run ``op`` (evaluate, replay, deploy) and return its result; its error is raised here."""
        async with self.one_at_a_time():
            return await self._run({"op": op, "settings": self._settings, **args})

    async def _run(self, request: dict[str, Any]) -> dict[str, Any]:
        proc = await asyncio.create_subprocess_exec(
            self.python, "-m", MODULE,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(json.dumps(request).encode()), self.timeout_s)
        except (TimeoutError, asyncio.CancelledError):
            proc.kill()
            await proc.wait()
            raise
        try:
            answer = json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError) as bad:
            tail = err.decode(errors="replace").strip().splitlines()[-3:]
            raise Unavailable(f"the model job exited with {proc.returncode}: {' | '.join(tail)}") from bad
        if "error" in answer:
            raise error_for(str(answer["error"].get("code")), str(answer["error"].get("message")))
        return dict(answer["result"])
