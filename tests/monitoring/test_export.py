"""The turn-log exports: plain turns (``shopbot logs export``) and turns with their latest review."""

import csv
import io
import json
from datetime import timedelta

from monitoring.export import REVIEW_COLUMNS, write_csv, write_jsonl, write_reviewed_csv, write_reviewed_jsonl
from monitoring.reviews import ReviewedTurn
from monitoring.turnlog.reviews import Review, Verdict
from tests.turns import T0, turn

RECORDS = [turn("t1", 0), turn("t2", 1, text="=HYPERLINK(evil)", reply="£5, 50% off")]


def test_exports() -> None:
    out = io.StringIO()
    assert write_jsonl(RECORDS, out) == 2
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    keys = {
        "conversation_id",
        "turn_id",
        "ts",
        "user_text",
        "route",
        "response",
        "hits",
        "latency_ms",
        "flags",
        "versions",
    }
    assert keys <= rows[0].keys()
    out = io.StringIO()
    write_csv(RECORDS, out)
    assert "'=HYPERLINK(evil)" in out.getvalue(), "formula cells are neutralised"


def test_reviewed_exports_add_the_latest_review() -> None:
    review = Review(7, "t2", Verdict.UNSAFE, "ann", T0 + timedelta(hours=1), note="=cmd|' /C calc'!A0")
    items = [ReviewedTurn(RECORDS[0], None), ReviewedTurn(RECORDS[1], review)]
    out = io.StringIO()
    assert write_reviewed_csv(items, out) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0])[-len(REVIEW_COLUMNS):] == list(REVIEW_COLUMNS)
    assert [r["turn_id"] for r in rows] == ["t1", "t2"]
    assert (rows[0]["verdict"], rows[0]["reviewer"]) == ("", "")
    assert (rows[1]["verdict"], rows[1]["reviewer"]) == ("unsafe", "ann")
    assert rows[1]["reviewed_at"] == "2026-11-23T13:00:00+00:00"
    assert rows[1]["note"] == "'=cmd|' /C calc'!A0" and rows[1]["user_text"] == "'=HYPERLINK(evil)"
    assert json.loads(rows[1]["response"])[0]["text"] == "£5, 50% off"
    more = io.StringIO()
    write_reviewed_csv(items[:1], more, header=False)
    assert more.getvalue().startswith("c1,t1,"), "a later page has no header"

    out = io.StringIO()
    assert write_reviewed_jsonl(items, out) == 2
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["review"] is None and first["turn_id"] == "t1"
    assert second["review"] == review.to_json()
    assert "£5" in out.getvalue(), "UTF-8 as written, like the plain export"
