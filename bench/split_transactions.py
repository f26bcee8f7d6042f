"""Leave-last-invoice-out split of a transactions CSV, for ``shopbot eval-recommender``.

For every known customer with at least two invoices, the rows of their last invoice go to the
test file; everything else (guests included) goes to the train file.

    python bench/split_transactions.py data/online_retail/transactions.csv /tmp/train.csv /tmp/test.csv
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path


def split(source: Path, train: Path, test: Path) -> tuple[int, int]:
    """Write the two files; returns their row counts."""
    with source.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        rows = list(reader)
    invoices: dict[str, dict[str, str]] = defaultdict(dict)
    for row in rows:
        customer = row["CustomerID"].strip()
        if customer and not row["InvoiceNo"].startswith("C"):
            invoices[customer].setdefault(row["InvoiceNo"], row["InvoiceDate"])
    held = {
        max(by_invoice, key=lambda inv: (by_invoice[inv], inv))
        for by_invoice in invoices.values()
        if len(by_invoice) >= 2
    }
    counts = [0, 0]
    with train.open("w", newline="", encoding="utf-8") as tr, test.open(
        "w", newline="", encoding="utf-8"
    ) as te:
        writers = [csv.DictWriter(tr, fields), csv.DictWriter(te, fields)]
        for w in writers:
            w.writeheader()
        for row in rows:
            side = int(row["InvoiceNo"] in held)
            writers[side].writerow(row)
            counts[side] += 1
    return counts[0], counts[1]


if __name__ == "__main__":
    n_train, n_test = split(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
    print(f"train rows {n_train}, test rows {n_test}")
