"""Where the recommender's sales come from: the shop's order history, behind one small protocol.

The recommender needs nothing but sales lines (``actions.recommender.Sale``). Today's source is
the UCI transactions CSV; a shop's own order export (JSON lines) or its platform (a reader
written against the platform's API) fit the same protocol, so the refit on a schedule
(``bot.training.recommender_refit``) does not care which one it is given.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from actions.recommender import (
    Sale,
    is_product_code,
    normalise_customer_id,
    normalise_stock_code,
    read_sales,
)
from core.errors import BadRequest, NotReady

# The fields every line of an order export must carry (``description`` is optional).
JSONL_FIELDS = ("invoice", "stock_code", "customer_id", "quantity", "date")


class OrderHistory(Protocol):
    """A shop's past sales, read in one blocking call."""

    @property
    def name(self) -> str:
        """Where the sales come from, for the version's settings and the logs."""
        ...

    def sales(self) -> list[Sale]:
        """Every positive-quantity sales line of a product (blocking)."""
        ...


class CsvHistory:
    """The UCI "Online Retail" transactions CSV (what ``ShopServices.load`` fits on)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def name(self) -> str:
        """``csv:<path>``."""
        return f"csv:{self.path}"

    def sales(self) -> list[Sale]:
        """The CSV's sales rows (``read_sales``); ``NotReady`` when the file is missing."""
        try:
            return read_sales(self.path)
        except FileNotFoundError as err:
            raise NotReady(f"no transactions at {self.path}") from err
        except (KeyError, ValueError) as err:
            raise BadRequest(f"{self.path} is not a transactions CSV: {err}") from err


def _date(value: object) -> str:
    """An ISO 8601 time as the naive UTC ``YYYY-mm-dd HH:MM:SS`` the recommender parses."""
    when = datetime.fromisoformat(str(value).strip())
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return f"{when:%Y-%m-%d %H:%M:%S}"


def _sale(row: Any) -> Sale | None:
    """One export line as a sale; None for a return, a cancellation or a non-product line."""
    if not isinstance(row, dict):
        raise ValueError("not a JSON object")
    missing = [f for f in JSONL_FIELDS if f not in row]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    quantity = int(row["quantity"])
    code = normalise_stock_code(str(row["stock_code"]))
    if quantity <= 0 or not is_product_code(code):
        return None
    invoice = str(row["invoice"]).strip()
    if not invoice:
        raise ValueError("empty invoice")
    return Sale(invoice, code, normalise_customer_id(row["customer_id"]), quantity,
                _date(row["date"]), str(row.get("description") or "").strip())


class JsonlHistory:
    """A shop's order export: one sales line per JSON line.

    ``{"invoice": "573415", "stock_code": "21166", "customer_id": "13607", "quantity": 1,
    "date": "2011-10-30T16:17:00Z", "description": "COOK WITH WINE METAL SIGN"}``; ``customer_id``
    may be null (a guest), ``description`` may be left out. Returns (quantity 0 or less) and
    postage, fees and vouchers are skipped; a malformed line refuses the whole export, because a
    model fitted on part of a broken export would look like a model of the shop.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def name(self) -> str:
        """``jsonl:<path>``."""
        return f"jsonl:{self.path}"

    def sales(self) -> list[Sale]:
        """The export's sales lines, in file order."""
        out: list[Sale] = []
        try:
            with self.path.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        sale = _sale(json.loads(line))
                    except (ValueError, TypeError) as err:
                        raise BadRequest(f"{self.path}:{number}: not an order line ({err})") from err
                    if sale is not None:
                        out.append(sale)
        except FileNotFoundError as err:
            raise NotReady(f"no order export at {self.path}") from err
        except UnicodeDecodeError as err:
            raise BadRequest(f"{self.path} is not UTF-8 text: {err}") from err
        return out


class ReadHistory:
    """Any blocking reader of sales as a history, e.g. a platform's
    (``ReadHistory("oscar:<url>", partial(read_order_history, url, token))``)."""

    def __init__(self, name: str, read: Callable[[], list[Sale]]) -> None:
        self._name = name
        self._read = read

    @property
    def name(self) -> str:
        """The name it was given."""
        return self._name

    def sales(self) -> list[Sale]:
        """What the reader returns."""
        return self._read()


def history_at(path: Path) -> OrderHistory:
    """The history in a file: ``.jsonl``/``.ndjson`` an order export, anything else the CSV."""
    if Path(path).suffix.lower() in {".jsonl", ".ndjson"}:
        return JsonlHistory(path)
    return CsvHistory(path)
