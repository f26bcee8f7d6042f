"""Model operations run as a job, apart from serving: ``python -m bot.training.jobs``.

The admin API (``bot/models``) runs the gate, replays and deploys in a child process, so a
serving worker never imports the training code nor holds two extra routers in its memory.
The job reads one JSON object on standard input::

    {"op": "evaluate" | "replay" | "deploy", "settings": {...}, "version": "...",
     "limit": int | null, "since": ISO time | null, "actor": "...", "force": bool}

runs it with the same code as the CLI (:func:`bot.training.lifecycle.open_lifecycle`) and
writes one JSON object on standard output: ``{"result": ...}``, or ``{"error": {"code",
"message"}}`` with the code of the error hierarchy (``core.errors``).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime
from typing import Any

from bot.training.assemble import open_lifecycle
from core.errors import BadRequest, ShopbotError
from core.settings import Settings

log = logging.getLogger(__name__)

OPERATIONS = ("evaluate", "replay", "deploy")


def run(request: dict[str, Any]) -> dict[str, Any]:
    """Run one operation; its report (or event) as JSON."""
    op = request.get("op")
    if op not in OPERATIONS:
        raise BadRequest(f"unknown operation {op!r}")
    settings = Settings.model_validate(request.get("settings") or {})
    version = str(request.get("version", ""))
    with open_lifecycle(settings) as lifecycle:
        if op == "evaluate":
            return lifecycle.evaluate(version)
        if op == "replay":
            since = request.get("since")
            return lifecycle.replay(version, limit=request.get("limit"),
                                    since=datetime.fromisoformat(since) if since else None)
        actor, force = str(request.get("actor", "")), bool(request.get("force"))
        return lifecycle.deploy(version, actor=actor, force=force).to_json()


def main() -> int:
    """Read the request, run it, print the answer; 0 when it ran, 1 when it failed."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        answer: dict[str, Any] = {"result": run(json.loads(sys.stdin.read()))}
    except ShopbotError as err:
        answer = {"error": {"code": err.code, "message": str(err)}}
    except ValueError as err:
        answer = {"error": {"code": BadRequest.code, "message": f"not a job request: {err}"}}
    sys.stdout.write(json.dumps(answer) + "\n")
    return 1 if "error" in answer else 0


if __name__ == "__main__":
    sys.exit(main())
