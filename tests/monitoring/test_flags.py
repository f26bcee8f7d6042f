from core.turns import Flag, Route
from monitoring.flags import FlagThresholds, compute_flags, grounding

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
