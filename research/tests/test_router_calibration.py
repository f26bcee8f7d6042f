"""The operating-point rule of research/router_calibration.py: the issue's targets as constraints."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from router_calibration import as_y, choose, figures  # noqa: E402


def _row(keep: float, cv: tuple[float, float], val: tuple[float, float]) -> dict:
    return {"keep_rate": keep, "cv_mean": {"in_scope": cv[0], "oos_recall": cv[1]},
            "val": {"in_scope": val[0], "oos_recall": val[1]},
            "objective": float(np.mean([sum(cv) / 2, sum(val) / 2]))}


def test_the_rule_answers_most_in_scope_among_points_meeting_the_oos_target_in_both() -> None:
    rows = [_row(0.99, (97.3, 95.0), (96.7, 92.0)), _row(0.9925, (97.6, 93.0), (96.9, 89.0)),
            _row(0.995, (97.9, 88.0), (97.3, 87.0)), _row(0.9975, (98.1, 82.0), (97.6, 83.0))]
    # 0.995 meets 88 % in CV but not on validation: CV alone would have picked it.
    assert choose(rows) == 0.9925


def test_with_no_point_meeting_the_target_the_balanced_objective_decides() -> None:
    rows = [_row(0.99, (96.0, 80.0), (95.0, 84.0)), _row(0.995, (97.0, 70.0), (96.0, 70.0))]
    assert choose(rows) == 0.99


def test_figures_count_a_decline_as_wrong_in_scope_and_right_out_of_scope() -> None:
    y = np.array([0, 1, 2, -1, -1])
    decided = np.array([0, -1, 2, -1, 1])
    out = figures(decided, y)
    assert abs(out["in_scope"] - 200 / 3) < 1e-9 and out["oos_recall"] == 50.0
    assert as_y(("a", "out_of_scope", "b"), np.array([0, 1, 2])).tolist() == [0, -1, 2]
