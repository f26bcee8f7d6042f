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


SHOP = [
    Product("11", "Regency Cakestand 3 Tier", 12.75, "Kitchen", popularity=90),
    Product("12", "Sweetheart Cakestand 3 Tier", 9.95, "Kitchen"),
    Product("13", "Regency Teacup and Saucer", 2.95, "Kitchen"),
    Product("14", "Spaceboy Lunch Box", 1.95, "Kitchen", popularity=80),
    Product("15", "Lunch Bag Spaceboy Design", 1.65, "Bags", popularity=10),
    Product("16", "Pack 3 Fire Engine/Car Patches", 2.46, "Toys"),
    Product("17", "Fire Engine Birthday Card", 0.42, "Cards"),
    Product("18", "Red Toy Car", 1.25, "Toys"),
    # "Design" ends many names, so it weighs little (as in the demo catalogue).
    *(Product(f"2{i}", f"{kind} Design", 1.0, "Gifts") for i, kind in enumerate(
        ("Tea Towel Owl", "Gift Tape Stars", "Notebook Paisley", "Mug Robin", "Tin Heart", "Card Rose"))),
]


def test_a_name_held_in_part_names_its_product_only_when_asked_and_unique() -> None:
    names = ProductNames(SHOP)
    # Half the name, and no other name holds both words: the one product, when the message is
    # known to ask about a product; never for the router's decisions (partial=False).
    assert names.find("how much is the regency cakestand") is None
    hit = names.find("how much is the regency cakestand", partial=True)
    assert hit is not None and hit.product.stock_code == "11" and hit.coverage < names.min_coverage
    # Two products hold "cakestand tier"; "regency" alone is one word: no product.
    assert names.find("how much is the cakestand 3 tier", partial=True) is None
    assert names.find("tell me about regency", partial=True) is None
    # "fire engine" is in two names: neither is meant.
    assert names.find("is the fire engine nice", partial=True) is None


def test_the_name_that_holds_most_of_what_was_said_wins() -> None:
    names = ProductNames(SHOP)
    # "Box" is a filler word, so the Lunch Box's name is held whole; the bag's holds "bag" too.
    hit = names.find("tell me about the spaceboy lunch bag")
    assert hit is not None and hit.product.stock_code == "15"
    hit = names.find("how much is the spaceboy lunch box")
    assert hit is not None and hit.product.stock_code == "14"
