"""The order history of a real django-oscar shop as sales rows, and a recommender fitted on them."""

from __future__ import annotations

import pytest

from actions.orders.oscar_history import read_order_history
from actions.recommender import Recommender
from core.errors import Unavailable
from harness.oscar_server import OscarServer, Sample
from harness.server_process import free_port


def sample(shop: OscarServer) -> Sample:
    assert shop.sample is not None
    return shop.sample


def test_the_history_is_every_sold_line_with_catalogue_ids(oscar_shop: OscarServer) -> None:
    sales = read_order_history(oscar_shop.base_url, oscar_shop.reader_token)
    ids = {key: str(pid) for key, pid in sample(oscar_shop).products.items()}
    alice, bob = (str(sample(oscar_shop).customers[name]) for name in ("alice", "bob"))
    rows = {(s.invoice, s.stock_code, s.customer_id, s.quantity) for s in sales}
    # 100005 was cancelled: never sold.
    assert rows == {
        ("100001", ids["mug"], alice, 2), ("100001", ids["towel"], alice, 1),
        ("100002", ids["tshirt-navy-m"], None, 1),
        ("100003", ids["skillet"], bob, 1), ("100003", ids["mug"], bob, 1),
        ("100004", ids["tshirt-red-s"], alice, 2), ("100004", ids["board"], alice, 1),
    }
    assert [s.date for s in sales] == sorted(s.date for s in sales), "oldest order first"
    assert sales[0].invoice == "100004" and len(sales[0].date) == len("2026-01-01 10:00:00")
    assert {s.description for s in sales if s.stock_code == ids["mug"]} == {"Enamel Camping Mug"}
    # Customers are the shop's user ids, never an email.
    assert not any("@" in (s.customer_id or "") for s in sales)


def test_a_recommender_fits_on_the_history(oscar_shop: OscarServer) -> None:
    ids = sample(oscar_shop).products
    recommender = Recommender().fit(read_order_history(oscar_shop.base_url, oscar_shop.reader_token))
    bob = str(sample(oscar_shop).customers["bob"])
    picks = [pick.stock_code for pick in recommender.for_customer(bob, k=3)]
    assert picks and set(picks) <= {str(pid) for pid in ids.values()}
    # Bob bought the mug, and the mug was bought with the tea towel.
    assert str(ids["towel"]) in picks or str(ids["mug"]) in picks


def test_an_unreachable_shop_is_unavailable() -> None:
    with pytest.raises(Unavailable) as caught:
        read_order_history(f"http://127.0.0.1:{free_port()}", "token", timeout_s=5)
    assert caught.value.__cause__ is not None
