from datetime import UTC, datetime

import pytest

from core.turns import Flag, Route, TurnRecord
from monitoring.metrics import ShopbotMetrics


def _record(route: Route = Route.FAQ, total_ms: float = 300.0, **kw: object) -> TurnRecord:
    fields: dict = dict(
        conversation_id="conv-secret-42",
        turn_id="t1",
        ts=datetime(2026, 11, 23, 12, tzinfo=UTC),
        channel="rest",
        user_text="how long is delivery?",
        route=route,
        response=({"recipient_id": "conv-secret-42", "text": "2-3 days"},),
        latency_ms={"embed": 12.0, "search": 1.5, "route": 30.0, "total": total_ms},
        versions={"encoder": "e1", "index": "i1"},
        flags=frozenset({Flag.SLOW, Flag.PII_REDACTED}),
    )
    fields.update(kw)
    return TurnRecord(**fields)


def value(m: ShopbotMetrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_observe_turn_counts_route_latency_stages_and_flags() -> None:
    m = ShopbotMetrics()
    m.observe_turn(_record(total_ms=300.0))
    m.observe_turn(_record(total_ms=2500.0))
    m.observe_turn(_record(Route.GENERATE, total_ms=40.0, flags=frozenset()))
    assert value(m, "shopbot_turns_total", route="faq") == 2
    assert value(m, "shopbot_turns_total", route="generate") == 1
    assert value(m, "shopbot_turns_total", route="decline") == 0, "known routes start at zero"
    assert value(m, "shopbot_turn_duration_seconds_count", route="faq") == 2
    assert value(m, "shopbot_turn_duration_seconds_sum", route="faq") == pytest.approx(2.8)
    assert value(m, "shopbot_turn_duration_seconds_bucket", route="faq", le="0.5") == 1
    assert value(m, "shopbot_turn_duration_seconds_bucket", route="faq", le="2.0") == 1
    assert value(m, "shopbot_turn_duration_seconds_bucket", route="faq", le="4.0") == 2
    assert value(m, "shopbot_stage_duration_seconds_count", stage="embed") == 3
    assert value(m, "shopbot_stage_duration_seconds_sum", stage="route") == pytest.approx(0.09)
    assert value(m, "shopbot_stage_duration_seconds_count", stage="total") is None
    assert value(m, "shopbot_turn_flags_total", flag="slow") == 2
    assert value(m, "shopbot_turn_flags_total", flag="error") == 0
    assert value(m, "shopbot_versions_info", encoder="e1", index="i1") == 1


def test_conversation_ids_never_become_labels() -> None:
    m = ShopbotMetrics()
    m.observe_turn(_record())
    m.observe_turn(_record(latency_ms={"Weird Stage!": 5.0, "total": 5.0}))
    families = list(m.registry.collect())
    labels = {v for f in families for s in f.samples for v in s.labels.values()}
    assert "conv-secret-42" not in labels
    assert value(m, "shopbot_stage_duration_seconds_count", stage="other") == 1


def test_registries_are_independent() -> None:
    a, b = ShopbotMetrics(), ShopbotMetrics()
    a.observe_turn(_record())
    assert value(a, "shopbot_turns_total", route="faq") == 1
    assert value(b, "shopbot_turns_total", route="faq") == 0


def test_feedback_errors_and_versions() -> None:
    m = ShopbotMetrics()
    m.observe_feedback("up")
    m.observe_feedback(-1)
    m.observe_feedback("down")
    assert value(m, "shopbot_feedback_total", value="up") == 1
    assert value(m, "shopbot_feedback_total", value="down") == 2
    with pytest.raises(ValueError):
        m.observe_feedback("meh")
    with pytest.raises(ValueError):
        m.observe_feedback(0)
    m.observe_error("retrieval_error")
    m.observe_error("not_found")
    m.observe_error("some-user-controlled-string")
    assert value(m, "shopbot_errors_total", kind="retrieval_error") == 1
    assert value(m, "shopbot_errors_total", kind="not_found") == 1
    assert value(m, "shopbot_errors_total", kind="other") == 1
    assert value(m, "shopbot_errors_total", kind="not_ready") == 0
    m.set_versions({"encoder": "e2", "generator-v": "g9"})
    assert value(m, "shopbot_versions_info", encoder="e2", generator_v="g9") == 1
    assert value(m, "shopbot_versions_info", encoder="e1", index="i1") is None


def test_handoff_setters_replace_states() -> None:
    m = ShopbotMetrics()
    m.set_handoffs({"waiting": 3, "active": 1})
    m.set_handoffs({"active": 2})
    assert value(m, "shopbot_handoffs_current", state="active") == 2
    assert value(m, "shopbot_handoffs_current", state="waiting") is None
    m.set_handoff_queue_length(4)
    assert value(m, "shopbot_handoff_queue_length") == 4
    m.observe_handoff("requested")
    m.observe_handoff("requested")
    assert value(m, "shopbot_handoffs_total", reason="requested") == 2
    with pytest.raises(ValueError):
        m.observe_handoff("conversation c-123")
