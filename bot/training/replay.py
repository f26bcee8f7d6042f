"""Replay: the shop's own recent traffic through a candidate, against the live version.

The last N logged shopper messages (their redacted text, as the turn log holds them) are routed
by both versions with the live policy (:mod:`bot.training.offline`), and every message whose
route or entry changes is grouped: newly answered (live declined it), newly declined (live
answered it), changed answer (both answer, differently). The candidate's rates on this traffic
(declines, unfamiliar and low-confidence messages) become the live baseline drift is judged by
once it is deployed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from bot.training.offline import OfflineRouter, Routed
from core.turns import Flag
from monitoring.turnlog import windows
from monitoring.turnlog.windows import Message

GROUPS = ("newly_answered", "newly_declined", "changed_answer")
_EXAMPLES = 5


def recent_messages(engine: Engine, limit: int, since: datetime | None = None) -> list[Message]:
    """The newest ``limit`` shopper messages the bot routed (not those a person answered)."""
    return windows.recent_messages(engine, limit, since)


def rates(routed: Sequence[Routed]) -> dict[str, float]:
    """Decline, unfamiliar and low-confidence shares of a routed stream (the drift baseline)."""
    n = len(routed) or 1
    return {
        "decline_rate": sum(r.declined for r in routed) / n,
        "unfamiliar_share": sum(Flag.UNFAMILIAR in r.flags for r in routed) / n,
        "low_confidence_share": sum(Flag.LOW_CONFIDENCE in r.flags for r in routed) / n,
    }


def replay(
    messages: Sequence[Message],
    candidate: OfflineRouter,
    live: OfflineRouter,
    *,
    names: tuple[str, str],
    since: datetime | None = None,
) -> dict[str, Any]:
    """Route ``messages`` with both versions and group what changes (blocking)."""
    texts = [m.text for m in messages]
    cand, current = candidate.run(texts), live.run(texts)
    groups: dict[str, dict[str, Any]] = {g: {"count": 0, "examples": []} for g in GROUPS}
    for message, c, was in zip(messages, cand, current, strict=True):
        group = _group(was, c)
        if group is None:
            continue
        groups[group]["count"] += 1
        if len(groups[group]["examples"]) < _EXAMPLES:
            groups[group]["examples"].append({
                "turn_id": message.turn_id, "text": message.text,
                "logged": {"route": message.route, "label": message.label},
                "live": was.to_json(), "candidate": c.to_json(),
            })
    return {
        "candidate": names[0],
        "live": names[1],
        "messages": len(messages),
        "since": since.isoformat() if since else None,
        "changed": sum(g["count"] for g in groups.values()),
        "groups": groups,
        "rates": {"candidate": rates(cand), "live": rates(current)},
        "replayed_at": datetime.now(UTC).isoformat(),
    }


def _group(live: Routed, candidate: Routed) -> str | None:
    if live.declined and not candidate.declined:
        return "newly_answered"
    if candidate.declined and not live.declined:
        return "newly_declined"
    if (live.route, live.label) != (candidate.route, candidate.label):
        return "changed_answer"
    return None
