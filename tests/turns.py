"""Small hand-made turn records for the review and statistics tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from core.turns import Flag, Hit, Route, TurnRecord

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def turn(
    turn_id: str,
    minute: float,
    *,
    conversation: str = "c1",
    text: str = "how long is delivery?",
    reply: str = "Delivery takes 2-3 working days.",
    route: Route = Route.FAQ,
    flags: tuple[Flag, ...] = (),
    confidence: float = 0.9,
    total_ms: float = 100.0,
    buttons: tuple[str, ...] = (),
    nearest_phrasing: float | None = None,
) -> TurnRecord:
    """A turn ``minute`` minutes after ``T0`` with one text reply."""
    message: dict[str, Any] = {"recipient_id": conversation, "text": reply}
    if buttons:
        message["buttons"] = [{"title": b, "payload": f"/{b}"} for b in buttons]
    facts = {"facts": {"nearest_phrasing": nearest_phrasing}} if nearest_phrasing is not None else {}
    return TurnRecord(
        conversation_id=conversation,
        turn_id=turn_id,
        ts=T0 + timedelta(minutes=minute),
        channel="rest",
        user_text=text,
        route=route,
        response=(message,),
        hits=(Hit("delivery_times", "faq", confidence, "how long does delivery take"),),
        latency_ms={"embed": 5.0, "search": 1.0, "total": total_ms},
        versions={"encoder": "e", "index": "i"},
        flags=frozenset(flags),
        metadata={
            "label": "delivery_times", "confidence": confidence, "evidence": ["2-3 working days"], **facts,
        },
    )
