import pytest

from bot.training.scores import macro_f1, score_router


def test_hand_checked_router_scores() -> None:
    expected = ["a", "a", "b", "b", None, None]
    predicted = ["a", None, "b", "a", None, "b"]
    s = score_router(expected, predicted)
    assert s.n == 6
    assert s.in_scope_accuracy == pytest.approx(2 / 4)
    # OOS: predicted None at rows 1 and 4, of which row 4 is truly OOS; 2 OOS cases, 1 caught.
    assert (s.oos_precision, s.oos_recall) == (pytest.approx(1 / 2), pytest.approx(1 / 2))
    assert s.oos_f1 == pytest.approx(0.5)
    # a: tp 1, fp 1 (row 3), fn 1 → F1 0.5 ; b: tp 1, fp 1 (row 5), fn 1 → F1 0.5
    assert s.macro_f1 == pytest.approx(0.5)


def test_perfect_and_empty_cases() -> None:
    s = score_router(["a", None], ["a", None])
    assert (s.in_scope_accuracy, s.macro_f1, s.oos_recall, s.oos_precision) == (1.0, 1.0, 1.0, 1.0)
    assert macro_f1([None], [None]) == 0.0
    with pytest.raises(ValueError):
        score_router(["a"], [])
