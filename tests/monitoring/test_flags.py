import json

from core.turns import Flag, Route
from monitoring.flags import FlagThresholds, TurnFacts, compute_flags, flags_of, grounding, nearest_known
from monitoring.records import refreshed_flags

T = FlagThresholds(low_confidence=0.6, ungrounded=0.5, slow_ms=100)


def test_grounding_counts_supported_content_words() -> None:
    evidence = ["Classic Glass Cookie Jar. Kitchen & Dining. Price £4.25."]
    assert grounding("The cookie jar is £4.25", evidence) == 1.0
    # "the" is a stop word; "unicorn" and "rainbow" are unsupported, "jar" is supported.
    assert grounding("the unicorn rainbow jar", evidence) == 1 / 3
    assert grounding("", evidence) == 1.0


def test_generated_and_ungrounded() -> None:
    flags = compute_flags(
        route=Route.GENERATE, confidence=0.9, total_ms=10, thresholds=T, grounding_score=0.2
    )
    assert flags == {Flag.GENERATED, Flag.UNGROUNDED}


def test_failed_generation_is_not_flagged_generated() -> None:
    flags = compute_flags(
        route=Route.GENERATE, confidence=0.9, total_ms=10, thresholds=T, generation_failed=True
    )
    assert Flag.GENERATED not in flags and Flag.GENERATION_FAILED in flags


def test_route_flags_and_slow_and_pii() -> None:
    assert Flag.DECLINED in compute_flags(route=Route.DECLINE, confidence=0.1, total_ms=1, thresholds=T)
    assert Flag.HANDOFF_REQUESTED in compute_flags(
        route=Route.HANDOFF, confidence=0.9, total_ms=1, thresholds=T
    )
    flags = compute_flags(
        route=Route.FAQ, confidence=0.5, total_ms=500, thresholds=T, pii_redacted=True, error=False
    )
    assert flags == {Flag.LOW_CONFIDENCE, Flag.SLOW, Flag.PII_REDACTED}
    assert Flag.ERROR in compute_flags(route=Route.ERROR, confidence=0, total_ms=1, thresholds=T, error=True)


def test_unfamiliar_below_the_nearest_phrasing_threshold_on_routed_turns() -> None:
    def flags(route: Route, nearest: float | None) -> frozenset[Flag]:
        return compute_flags(route=route, confidence=0.9, total_ms=1, thresholds=T, nearest_phrasing=nearest)

    assert Flag.UNFAMILIAR in flags(Route.DECLINE, 0.2)
    assert Flag.UNFAMILIAR in flags(Route.FAQ, T.unfamiliar - 0.01)
    assert Flag.UNFAMILIAR not in flags(Route.FAQ, T.unfamiliar), "at the threshold is familiar"
    assert Flag.UNFAMILIAR not in flags(Route.FAQ, None), "not measured: no flag"
    # A person's conversation or a failed turn was not routed from the message.
    assert Flag.UNFAMILIAR not in flags(Route.HUMAN, 0.1)
    assert Flag.UNFAMILIAR not in flags(Route.ERROR, 0.1)


def test_nearest_known_skips_the_off_topic_examples() -> None:
    labels = [("out_of_scope", 0.81), ("uk_delivery", 0.33), ("returns", 0.3)]
    assert nearest_known(labels) == 0.33
    assert nearest_known([("out_of_scope", 0.9)]) is None, "no in-scope neighbour: unknown"
    assert nearest_known([]) is None
    # A question an auditor promoted since the index was built counts as a known phrasing.
    assert nearest_known(labels, promoted=0.95) == 0.95
    assert nearest_known([("out_of_scope", 0.9)], promoted=0.92) == 0.92
    assert nearest_known(labels, promoted=0.1) == 0.33


def test_default_unfamiliar_threshold_matches_the_setting() -> None:
    from core.settings import Settings

    assert FlagThresholds().unfamiliar == Settings().unfamiliar_threshold == 0.4


def test_stored_facts_round_trip_the_nearest_phrasing() -> None:
    facts = TurnFacts(Route.DECLINE, confidence=0.1, nearest_phrasing=0.25)
    again = TurnFacts.from_json(json.loads(json.dumps(facts.to_json())))
    assert again == facts
    assert flags_of(again, FlagThresholds()) == {Flag.DECLINED, Flag.UNFAMILIAR}


def test_thumbs_down_on_an_old_record_keeps_its_flags() -> None:
    # Stored before `unfamiliar` existed: no nearest_phrasing in the facts, no such threshold.
    old = {"route": "faq", "confidence": 0.9, "total_ms": 5.0, "feedback": None,
           "thresholds": {"low_confidence": 0.6, "ungrounded": 0.5, "slow_ms": 2000.0}}
    stored, flags = refreshed_flags(old, feedback=-1)
    assert flags == ["negative_feedback"]
    assert stored["nearest_phrasing"] is None and stored["thresholds"]["unfamiliar"] == 0.4
    # One judged by a stricter threshold keeps it; an unknown (newer) threshold is ignored.
    newer = {"route": "faq", "confidence": 0.9, "nearest_phrasing": 0.45,
             "thresholds": {"unfamiliar": 0.5, "some_later_threshold": 3}}
    assert refreshed_flags(newer, feedback=1)[1] == ["unfamiliar"]


def test_a_route_whose_handler_had_no_answer_is_declined() -> None:
    # An FAQ entry gone, no product in the price range, a question the facts do not cover.
    for route in (Route.FAQ, Route.PRODUCTS, Route.GENERATE, Route.ORDER_STATUS):
        flags = compute_flags(route=route, confidence=0.9, total_ms=1, thresholds=T, answered=False)
        assert Flag.DECLINED in flags, route
        assert Flag.DECLINED not in compute_flags(route=route, confidence=0.9, total_ms=1, thresholds=T)
    # A failure is flagged as what it was, not as a decline.
    failed = compute_flags(route=Route.ERROR, confidence=0, total_ms=1, thresholds=T, error=True,
                           answered=False)
    assert Flag.ERROR in failed and Flag.DECLINED not in failed
    broken = compute_flags(route=Route.GENERATE, confidence=0.9, total_ms=1, thresholds=T,
                           generation_failed=True, answered=False)
    assert Flag.GENERATION_FAILED in broken and Flag.DECLINED not in broken
    # A person's conversation is not the bot's to decline.
    assert Flag.DECLINED not in compute_flags(route=Route.HUMAN, confidence=0, total_ms=1, thresholds=T,
                                              answered=False)


def test_facts_stored_before_answered_existed_read_as_answered() -> None:
    old = {"route": "faq", "confidence": 0.9, "total_ms": 3.0}
    facts = TurnFacts.from_json(old)
    assert facts.answered is True and Flag.DECLINED not in flags_of(facts, T)
