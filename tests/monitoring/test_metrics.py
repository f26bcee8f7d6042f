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


def test_router_confidence_of_routed_turns_and_unfamiliar_counted() -> None:
    m = ShopbotMetrics()
    assert value(m, "shopbot_turn_flags_total", flag="unfamiliar") == 0, "starts at zero"
    m.observe_turn(_record(Route.FAQ, metadata={"confidence": 0.97}))
    m.observe_turn(_record(Route.DECLINE, metadata={"confidence": 0.12},
                           flags=frozenset({Flag.DECLINED, Flag.UNFAMILIAR})))
    # A person's turn and a failed one were not routed by the bot; a record without one is skipped.
    m.observe_turn(_record(Route.HUMAN, metadata={"confidence": 0.0}))
    m.observe_turn(_record(Route.ERROR, metadata={"confidence": 0.3}))
    m.observe_turn(_record(Route.FAQ))
    assert value(m, "shopbot_router_confidence_count") == 2
    assert value(m, "shopbot_router_confidence_sum") == pytest.approx(1.09)
    assert value(m, "shopbot_router_confidence_bucket", le="0.5") == 1
    assert value(m, "shopbot_router_confidence_bucket", le="0.95") == 1
    assert value(m, "shopbot_router_confidence_bucket", le="0.99") == 2
    assert value(m, "shopbot_turn_flags_total", flag="unfamiliar") == 1


def test_live_model_version_one_per_kind() -> None:
    m = ShopbotMetrics()
    assert value(m, "shopbot_model_swaps_total", kind="router", action="deploy") == 0
    assert value(m, "shopbot_model_swap_failures_total", kind="generator") == 0
    m.set_live_model("router", "r-1")
    m.set_live_model("generator", "g-1")
    first = value(m, "shopbot_model_live_since_timestamp_seconds", kind="router")
    assert first is not None and first > 0
    m.set_live_model("router", "r-1")
    assert value(m, "shopbot_model_live_since_timestamp_seconds", kind="router") == first, "same version"
    m.set_live_model("router", "r-2")
    assert value(m, "shopbot_model_live_info", kind="router", version="r-2") == 1
    assert value(m, "shopbot_model_live_info", kind="router", version="r-1") is None
    assert value(m, "shopbot_model_live_info", kind="generator", version="g-1") == 1
    assert (value(m, "shopbot_model_live_since_timestamp_seconds", kind="router") or 0) >= first
    with pytest.raises(ValueError):
        m.set_live_model("Router Model!", "x")


def test_model_swaps_and_failures() -> None:
    m = ShopbotMetrics()
    m.observe_model_swap("router", "start")
    m.observe_model_swap("router", "deploy")
    m.observe_model_swap("router", "rollback")
    m.observe_model_swap("router", "deploy")
    m.observe_model_swap("router", "something else")
    m.observe_model_swap_failure("router")
    assert value(m, "shopbot_model_swaps_total", kind="router", action="deploy") == 2
    assert value(m, "shopbot_model_swaps_total", kind="router", action="rollback") == 1
    assert value(m, "shopbot_model_swaps_total", kind="router", action="start") == 1
    assert value(m, "shopbot_model_swaps_total", kind="router", action="other") == 1
    assert value(m, "shopbot_model_swap_failures_total", kind="router") == 1
    m.observe_model_swap("encoder", "deploy")
    assert value(m, "shopbot_model_swaps_total", kind="encoder", action="deploy") == 1
    assert value(m, "shopbot_model_swaps_total", kind="encoder", action="rollback") == 0, "new kind at zero"


def test_model_baseline_replaces_and_ignores_unknown_keys() -> None:
    m = ShopbotMetrics()
    assert m.model_baseline("router") == {}
    m.set_model_baseline("router", {"decline_rate": 0.12, "unfamiliar_share": 0.05, "accuracy": 0.9})
    assert m.model_baseline("router") == {"decline_rate": 0.12, "unfamiliar_share": 0.05}
    assert value(m, "shopbot_model_baseline", kind="router", metric="decline_rate") == 0.12
    assert value(m, "shopbot_model_baseline", kind="router", metric="accuracy") is None
    m.set_model_baseline("router", {"low_confidence_share": 0.2})
    assert value(m, "shopbot_model_baseline", kind="router", metric="decline_rate") is None, "replaced"
    assert value(m, "shopbot_model_baseline", kind="router", metric="low_confidence_share") == 0.2
    m.set_model_baseline("generator", {"ungrounded_rate": 0.1, "thumbs_down_rate": 0.08})
    assert m.model_baseline("router") == {"low_confidence_share": 0.2}
    assert value(m, "shopbot_model_baseline", kind="generator", metric="thumbs_down_rate") == 0.08
    baseline = m.model_baseline("generator")
    baseline["ungrounded_rate"] = 1.0
    assert m.model_baseline("generator")["ungrounded_rate"] == 0.1, "a copy"
