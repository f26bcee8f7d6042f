"""Turn-log export as JSON lines or CSV: plain turns (``shopbot export``) or with their latest review."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import Any, TextIO

from core.turns import TurnRecord
from monitoring.reviews import ReviewedTurn

CSV_COLUMNS = (
    "conversation_id",
    "turn_id",
    "ts",
    "channel",
    "user_text",
    "route",
    "response",
    "hits",
    "latency_ms",
    "flags",
    "versions",
)
REVIEW_COLUMNS = ("verdict", "correction", "note", "reviewer", "reviewed_at")


def write_jsonl(records: Iterable[TurnRecord], out: TextIO) -> int:
    """One JSON object per line; returns the count."""
    return _jsonl((r.to_json() for r in records), out)


def write_reviewed_jsonl(items: Iterable[ReviewedTurn], out: TextIO) -> int:
    """One JSON object per turn: the :func:`write_jsonl` shape plus ``review``; returns the count."""
    return _jsonl(
        ({**i.record.to_json(), "review": i.review.to_json() if i.review else None} for i in items), out
    )


def write_csv(records: Iterable[TurnRecord], out: TextIO, *, header: bool = True) -> int:
    """One row per turn; nested fields as JSON text, flags joined with ``|``."""
    return _csv((_row(r) for r in records), CSV_COLUMNS, out, header)


def write_reviewed_csv(items: Iterable[ReviewedTurn], out: TextIO, *, header: bool = True) -> int:
    """:func:`write_csv`'s columns plus the latest review's (empty when there is none)."""
    return _csv((_reviewed_row(i) for i in items), (*CSV_COLUMNS, *REVIEW_COLUMNS), out, header)


def _jsonl(objects: Iterable[dict[str, Any]], out: TextIO) -> int:
    count = 0
    for obj in objects:
        out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        count += 1
    return count


def _csv(rows: Iterable[dict[str, Any]], columns: tuple[str, ...], out: TextIO, header: bool) -> int:
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    if header:
        writer.writeheader()
    count = 0
    for row in rows:
        count += 1
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return count


def _row(record: TurnRecord) -> dict[str, Any]:
    row = record.to_json()
    row["flags"] = "|".join(row["flags"])
    for key in ("response", "hits", "latency_ms", "versions"):
        row[key] = json.dumps(row[key], ensure_ascii=False)
    return row


def _reviewed_row(item: ReviewedTurn) -> dict[str, Any]:
    row = _row(item.record)
    review = item.review
    if review is not None:
        row.update(
            verdict=str(review.verdict),
            correction=review.correction,
            note=review.note,
            reviewer=review.reviewer,
            reviewed_at=review.ts.isoformat(),
        )
    return row


def _cell(value: object) -> object:
    # Spreadsheet apps run cells starting with these as formulas; shopper text is hostile input.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
