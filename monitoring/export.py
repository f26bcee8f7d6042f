"""Turn-log export as JSON lines or CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import TextIO

from core.turns import TurnRecord

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


def write_jsonl(records: Iterable[TurnRecord], out: TextIO) -> int:
    """One JSON object per line; returns the count."""
    count = 0
    for record in records:
        out.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
        count += 1
    return count


def write_csv(records: Iterable[TurnRecord], out: TextIO) -> int:
    """One row per turn; nested fields as JSON text, flags joined with ``|``."""
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    count = 0
    for record in records:
        count += 1
        row = record.to_json()
        row["flags"] = "|".join(row["flags"])
        for key in ("response", "hits", "latency_ms", "versions"):
            row[key] = json.dumps(row[key], ensure_ascii=False)
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return count


def _cell(value: object) -> object:
    # Spreadsheet apps run cells starting with these as formulas; shopper text is hostile input.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
