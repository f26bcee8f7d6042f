"""The fitted recommender kept on disk: loaded only while its inputs are unchanged, never trusted blindly."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest

from actions.recommender import Recommender, RecommenderConfig, read_sales
from actions.recommender_store import FILE_NAME, fingerprint, load_fitted, load_or_fit
from core.settings import REPO_ROOT

REAL_CSV = REPO_ROOT / "data" / "online_retail" / "transactions.csv"


def same_answers(a: Recommender, b: Recommender, customers: list[str], codes: list[str]) -> None:
    assert list(a.codes) == list(b.codes)
    assert sorted(a.customers) == sorted(b.customers)
    assert a.popular(10) == b.popular(10)
    for customer in customers:
        assert a.for_customer(customer, 10) == b.for_customer(customer, 10), customer
    for code in codes:
        assert a.similar_to(code, 10) == b.similar_to(code, 10), code


def test_a_kept_fit_answers_exactly_as_a_fresh_fit_on_the_real_transactions(tmp_path: Path) -> None:
    fresh = Recommender.from_csv(REAL_CSV)
    first = load_or_fit(REAL_CSV, None, tmp_path)  # fits and keeps it
    key = fingerprint(REAL_CSV, None, RecommenderConfig())
    kept = load_fitted(tmp_path / FILE_NAME, key, RecommenderConfig())
    assert kept is not None, "the fit was kept under its fingerprint"
    customers = sorted(fresh.customers)[::10]
    codes = [str(c) for c in fresh.codes[::10]]
    assert len(customers) > 100 and len(codes) > 100
    same_answers(fresh, first, customers, codes)
    same_answers(fresh, kept, customers, codes)


def test_the_file_holds_plain_arrays_only(sales_csv: Path, tmp_path: Path) -> None:
    load_or_fit(sales_csv, None, tmp_path)
    with np.load(tmp_path / FILE_NAME, allow_pickle=False) as stored:  # would raise on a pickle
        assert all(stored[name].dtype != object for name in stored.files)
        assert "ease.data" in stored.files and "customers" in stored.files


def test_changed_transactions_catalogue_or_config_mean_a_new_fit(sales_csv: Path, tmp_path: Path) -> None:
    config = RecommenderConfig()
    load_or_fit(sales_csv, None, tmp_path)
    before = fingerprint(sales_csv, None, config)
    assert fingerprint(sales_csv, {"10001", "10002"}, config) != before
    assert fingerprint(sales_csv, None, RecommenderConfig(ease_lambda=10.0)) != before

    with sales_csv.open("a", encoding="utf-8") as handle:  # a new product is sold
        handle.write("500099,10099,NEW LAMP,1,2011-06-01 10:00:00,9.5,11111.0,United Kingdom\n")
    after = fingerprint(sales_csv, None, config)
    assert after != before
    assert load_fitted(tmp_path / FILE_NAME, after, config) is None, "the old fit is stale"
    model = load_or_fit(sales_csv, None, tmp_path)
    assert "10099" in model.codes
    assert load_fitted(tmp_path / FILE_NAME, after, config) is not None, "the new fit replaced it"


def test_only_the_catalogues_products_are_fitted(sales_csv: Path, tmp_path: Path) -> None:
    model = load_or_fit(sales_csv, {"10001", "10002", "10006"}, tmp_path)
    assert sorted(model.codes) == ["10001", "10002", "10006"]
    assert sorted(load_or_fit(sales_csv, None, tmp_path).codes) == sorted(
        {s.stock_code for s in read_sales(sales_csv)})


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing array"])
def test_a_damaged_file_is_refitted_and_replaced(sales_csv: Path, tmp_path: Path, damage: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    expected = Recommender.from_csv(sales_csv)
    load_or_fit(sales_csv, None, tmp_path)
    path = tmp_path / FILE_NAME
    if damage == "garbage":
        path.write_bytes(b"not a numpy archive")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    else:  # a valid archive with the right fingerprint but an array gone
        with np.load(path, allow_pickle=False) as stored:
            arrays = {n: stored[n] for n in stored.files if n != "ease.indptr"}
        with path.open("wb") as handle:
            np.savez(handle, **arrays)
    with caplog.at_level(logging.WARNING, logger="actions.recommender_store"):
        model = load_or_fit(sales_csv, None, tmp_path)
    assert "Refitting the recommender" in caplog.text
    same_answers(expected, model, ["12345", "11111", "11118"], ["10001", "10006"])
    key = fingerprint(sales_csv, None, RecommenderConfig())
    assert load_fitted(path, key, RecommenderConfig()) is not None
    assert zipfile.is_zipfile(path)


def test_an_unwritable_place_still_serves_a_fit(sales_csv: Path, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with caplog.at_level(logging.WARNING, logger="actions.recommender_store"):
        model = load_or_fit(sales_csv, None, blocker / "recommender")  # cannot be a directory
    assert "Could not keep the fitted recommender" in caplog.text
    assert model.for_customer("12345", 3)
