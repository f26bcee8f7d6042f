"""A product is found by the words of its name, the most specific name winning."""

from __future__ import annotations

from core.shop import Product
from retrieval.product_names import ProductNames

CATALOGUE = [
    Product("1", "Jumbo Bag Blue Paisley", 2.08, "Bags", popularity=50),
    Product("2", "Jumbo Bag Scandinavian Blue Paisley", 2.08, "Bags", popularity=10),
    Product("3", "Jumbo Bag Red Retrospot", 2.08, "Bags", popularity=90),
    Product("4", "Pack of 12 Hearts Design Tissues", 0.39, "Stationery"),
    Product("5", "Dolly Girl Lunch Box", 1.95, "Kitchen"),
]
NAMES = ProductNames(CATALOGUE)


def found(text: str) -> str | None:
    hit = NAMES.find(text)
    return hit.product.stock_code if hit else None


def test_the_product_named_is_found_not_its_sibling() -> None:
    assert found("is the jumbo bag scandinavian blue paisley waterproof?") == "2"
    assert found("how much is the jumbo bag blue paisley") == "1"
    assert found("is the dolly girl lunch box microwave safe?") == "5"


def test_counts_plurals_and_case_do_not_matter() -> None:
    assert found("are the HEARTS design tissue packs nice") == "4"


def test_generic_words_name_no_product() -> None:
    assert found("do you sell jumbo bags?") is None
    assert found("how long does delivery take?") is None
    assert found("") is None
