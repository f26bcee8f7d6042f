"""Order histories: the transactions CSV as today, and a shop's JSON-lines order export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actions.order_history import CsvHistory, JsonlHistory, OrderHistory, ReadHistory, history_at
from actions.recommender import Recommender, Sale, read_sales
from core.errors import BadRequest, NotReady


def _export(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _row(**changes: object) -> dict[str, object]:
    return {"invoice": "900001", "stock_code": "10001", "customer_id": "11111", "quantity": 2,
            "date": "2011-01-05T10:00:00", **changes}


def test_the_csv_history_is_exactly_what_the_recommender_was_fitted_on(sales_csv: Path) -> None:
    history: OrderHistory = CsvHistory(sales_csv)
    assert history.name == f"csv:{sales_csv}"
    assert history.sales() == read_sales(sales_csv)
    assert {s.invoice for s in history.sales()} >= {"500001", "500010"}
    assert not any(s.invoice.startswith("C") or s.stock_code == "POST" for s in history.sales())


def test_an_export_line_becomes_a_normalised_sale(tmp_path: Path) -> None:
    path = _export(tmp_path / "orders.jsonl", [
        _row(stock_code=" 85123a ", customer_id=13607.0, description="WHITE HANGING HEART "),
        _row(invoice=900002, customer_id=None, quantity="3", date="2011-01-06T10:00:00+01:00"),
    ])
    history = JsonlHistory(path)
    assert history.name == f"jsonl:{path}"
    assert history.sales() == [
        Sale("900001", "85123A", "13607", 2, "2011-01-05 10:00:00", "WHITE HANGING HEART"),
        # A guest; the time zone is turned into UTC.
        Sale("900002", "10001", None, 3, "2011-01-06 09:00:00", ""),
    ]


def test_returns_postage_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = _export(tmp_path / "orders.jsonl", [
        _row(), _row(quantity=-1), _row(quantity=0), _row(stock_code="POST"),
        _row(stock_code="AMAZONFEE"),
    ])
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n   \n")
    assert [s.quantity for s in JsonlHistory(path).sales()] == [2]


@pytest.mark.parametrize("line", [
    "{not json", '["a list"]', json.dumps({"invoice": "1", "stock_code": "10001"}),
    json.dumps(_row(quantity="two")), json.dumps(_row(date="yesterday")),
    json.dumps(_row(invoice=" ")),
])
def test_a_malformed_line_refuses_the_whole_export_and_names_it(tmp_path: Path, line: str) -> None:
    path = tmp_path / "orders.jsonl"
    path.write_text(json.dumps(_row()) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(BadRequest, match=r"orders\.jsonl:2"):
        JsonlHistory(path).sales()


def test_a_missing_history_is_not_ready(tmp_path: Path) -> None:
    with pytest.raises(NotReady):
        JsonlHistory(tmp_path / "absent.jsonl").sales()
    with pytest.raises(NotReady):
        CsvHistory(tmp_path / "absent.csv").sales()


def test_an_export_of_the_csv_fits_the_same_recommender(sales_csv: Path, tmp_path: Path) -> None:
    sales = read_sales(sales_csv)
    path = _export(tmp_path / "orders.jsonl", [
        {"invoice": s.invoice, "stock_code": s.stock_code, "customer_id": s.customer_id,
         "quantity": s.quantity, "date": s.date.replace(" ", "T"), "description": s.description}
        for s in sales])
    exported = JsonlHistory(path).sales()
    assert exported == sales
    a, b = Recommender().fit(sales), Recommender().fit(exported)
    assert a.for_customer("12345", 5) == b.for_customer("12345", 5)
    assert a.popular(5) == b.popular(5)


def test_the_file_suffix_chooses_the_reader(tmp_path: Path) -> None:
    assert isinstance(history_at(tmp_path / "orders.jsonl"), JsonlHistory)
    assert isinstance(history_at(tmp_path / "orders.NDJSON"), JsonlHistory)
    assert isinstance(history_at(tmp_path / "transactions.csv"), CsvHistory)


def test_a_platform_reader_is_a_history_by_wrapping() -> None:
    sale = Sale("1", "10001", "7", 1, "2011-01-05 10:00:00")
    history: OrderHistory = ReadHistory("oscar:https://shop.example", lambda: [sale])
    assert history.name == "oscar:https://shop.example"
    assert history.sales() == [sale]
