"""Large, realistic Google Merchant Center feeds for tests and benchmarks, written as XML or TSV.

``shop_items(names, n, seed)`` builds ``n`` items from a shop's product names (the demo shop's
``var/shop/products.json``) crossed with colour and size variants that share an
``item_group_id``, with prices, availability (out of stock and pre-order ones dated), links,
image links, brands, valid GTINs and descriptions of a real shop's length (HTML included).
The same seed gives the same feed. ``changed_items`` applies a catalogue day's edits: repriced,
sold out, new and withdrawn items. ``xml_feed`` and ``tsv_feed`` write the two forms Google
accepts; both read back to the same items.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

Item = dict[str, str | list[str]]

COLOURS = ["Red", "Blue", "Green", "Ivory", "Black", "Pink", "Grey", "Mustard", "Navy", "Sage"]
SIZES = ["S", "M", "L", "XL"]
BRANDS = ["Hearth & Co", "Little Lane", "Nordhaus", "Paper Moon", "Willow Works", "Brightside"]
MATERIALS = ["Cotton", "Ceramic", "Glass", "Oak", "Enamel", "Zinc", "Paper", "Linen", "Porcelain"]
PATTERNS = ["Plain", "Spotty", "Striped", "Floral", "Gingham", "Paisley"]
OPENERS = [
    "Our {name} is a customer favourite and one of the pieces we are asked about most.",
    "Designed in our studio, the {name} brings a little character to any {room}.",
    "The {name} makes a thoughtful gift and looks just as good kept for yourself.",
    "Part of this season's range, the {name} is made to be used every day.",
]
DETAILS = [
    "Made from {material} with a {pattern} finish in {colour}.",
    "Each one is checked by hand before it leaves our warehouse, so small variations are normal.",
    "Measures roughly {w} x {h} cm and weighs about {g} g, so it is easy to post as a present.",
    "Wipe clean with a damp cloth; not suitable for the dishwasher or microwave.",
    "Packed in recycled card with no plastic, ready to wrap.",
    "Pairs well with the rest of the {category} collection.",
    "Please note colours may vary slightly from the photographs depending on your screen.",
]
EDITIONS = ["Deluxe", "Mini", "Large", "Vintage", "Classic"]
ROOMS = ["kitchen", "living room", "bedroom", "hallway", "nursery", "garden room"]
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Change:
    """What ``changed_items`` did, by item id."""

    repriced: tuple[str, ...]
    sold_out: tuple[str, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]


def demo_names(shop_dir: Path) -> list[tuple[str, str, float]]:
    """(name, category, price) of every product of a built shop (``var/shop/products.json``)."""
    import json

    rows = json.loads((shop_dir / "products.json").read_text(encoding="utf-8"))
    return [(r["name"], r["category"], float(r["price"])) for r in rows]


def shop_items(names: Sequence[tuple[str, str, float]], n: int, seed: int = 27,
               start: date = date(2027, 1, 4)) -> list[Item]:
    """``n`` feed items: the products of ``names`` in a seeded order, each one item or a group of
    colour (and size) variants; about 1 in 10 out of stock or on pre-order with a date after ``start``."""
    rng = random.Random(seed)
    order = list(range(len(names)))
    rng.shuffle(order)
    items: list[Item] = []
    for round_ in range(n // max(1, len(names)) + 2):
        for k in order:
            if len(items) >= n:
                return items
            name, category, price = names[k]
            # Past the first pass a product comes back as another edition, not under the same title.
            edition = f"{EDITIONS[(round_ - 1) % len(EDITIONS)]} {name}" if round_ else name
            product = (edition, category, price)
            items += _group(rng, product, f"{round_}{k:05d}", start)[: n - len(items)]
    return items


def changed_items(items: Sequence[Item], names: Sequence[tuple[str, str, float]], *, repriced: int = 50,
                  sold_out: int = 30, added: int = 10, removed: int = 10, seed: int = 2727,
                  start: date = date(2027, 1, 4)) -> tuple[list[Item], Change]:
    """``items`` after a day's edits: ``repriced`` new prices, ``sold_out`` in-stock items out of
    stock (dated), ``added`` new items at the end, ``removed`` items gone; all different items."""
    rng = random.Random(seed)
    in_stock = [i for i, item in enumerate(items) if item.get("availability") == "in_stock"]
    picked = rng.sample(in_stock, repriced + sold_out + removed)
    price_at, out_at, gone = picked[:repriced], picked[repriced:repriced + sold_out], set(picked[-removed:])
    out: list[Item] = [dict(item) for item in items]
    for i in price_at:
        amount = float(str(out[i]["price"]).split()[0])
        out[i]["price"] = f"{max(0.5, round(amount * rng.choice([0.8, 0.9, 1.1, 1.25]), 2)):.2f} GBP"
    for i in out_at:
        out[i]["availability"] = "out_of_stock"
        out[i]["availability_date"] = (start + timedelta(days=rng.randint(7, 60))).isoformat()
    new: list[Item] = []
    for k in rng.sample(range(len(names)), added):
        new.append(_group(rng, names[k], f"N{k:05d}", start)[0])
    kept = [item for i, item in enumerate(out) if i not in gone]
    change = Change(tuple(str(out[i]["id"]) for i in price_at), tuple(str(out[i]["id"]) for i in out_at),
                    tuple(str(item["id"]) for item in new), tuple(str(out[i]["id"]) for i in sorted(gone)))
    return kept + new, change


def _group(rng: random.Random, product: tuple[str, str, float], key: str, start: date) -> list[Item]:
    name, category, base = product
    shape = rng.random()
    colours = rng.sample(COLOURS, rng.randint(2, 4)) if shape > 0.45 else [""]
    sizes = rng.sample(SIZES, rng.randint(2, 3)) if shape > 0.8 else [""]
    group = f"G{key}" if len(colours) * len(sizes) > 1 else ""
    slug = _SLUG.sub("-", name.lower()).strip("-")[:60]
    price = max(0.5, round(base * rng.uniform(2.0, 3.5), 2))
    brand, material, pattern = rng.choice(BRANDS), rng.choice(MATERIALS), rng.choice(PATTERNS)
    description = _description(rng, name, category, material, pattern, colours[0] or rng.choice(COLOURS))
    out: list[Item] = []
    for colour in colours:
        for size in sizes:
            code = "-".join(part for part in (key, colour.upper(), size) if part)
            title = ", ".join(part for part in (name, colour.lower(), size) if part)
            item: Item = {
                "id": code, "title": title,
                "description": description,
                "link": f"https://shop.example/products/{slug}?variant={code}",
                "image_link": f"https://cdn.shop.example/images/{code}.jpg",
                "price": f"{price + (0.5 * SIZES.index(size) if size else 0):.2f} GBP",
                "brand": brand, "gtin": _gtin(rng), "mpn": f"MP-{code}",
                "condition": "new",
                "product_type": category,
                "material": material, "pattern": pattern,
            }
            if rng.random() < 0.4:
                item["additional_image_link"] = [f"https://cdn.shop.example/images/{code}-{n}.jpg"
                                                 for n in range(2, rng.randint(3, 5))]
            if colour:
                item["color"] = colour
            if size:
                item["size"] = size
            if group:
                item["item_group_id"] = group
            roll = rng.random()
            if roll < 0.08 or roll > 0.96:
                item["availability"] = "out_of_stock" if roll < 0.08 else "preorder"
                item["availability_date"] = (start + timedelta(days=rng.randint(3, 90))).isoformat()
            else:
                item["availability"] = "backorder" if roll > 0.94 else "in_stock"
            out.append(item)
    return out


def _description(rng: random.Random, name: str, category: str, material: str, pattern: str,
                 colour: str) -> str:
    fill = {"name": name.lower(), "room": rng.choice(ROOMS), "material": material.lower(),
            "pattern": pattern.lower(), "colour": colour.lower(), "category": category.lower(),
            "w": rng.randint(5, 60), "h": rng.randint(5, 60), "g": rng.randint(40, 2400)}
    lines = [line.format(**fill) for line in rng.sample(DETAILS, rng.randint(3, 6))]
    return (f"<p>{rng.choice(OPENERS).format(**fill)}</p><ul>"
            + "".join(f"<li>{line}</li>" for line in lines) + "</ul>")


def _gtin(rng: random.Random) -> str:
    """A valid EAN-13 (GS1 check digit)."""
    digits = [5, 0] + [rng.randint(0, 9) for _ in range(10)]
    check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return "".join(map(str, digits)) + str(check)


def xml_feed(items: Sequence[Mapping[str, str | Sequence[str]]],
             head: str = '<?xml version="1.0" encoding="UTF-8"?>\n') -> str:
    """RSS 2.0 with every attribute in the g: namespace, repeated ones repeated; ``head`` is what
    comes before the root element (the XML declaration, a DOCTYPE)."""
    out = [head, '<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">\n'
                 "<channel>\n<title>Shop</title><link>https://shop.example</link>\n"]
    for attrs in items:
        out.append("<item>\n")
        for name, value in attrs.items():
            for one in ([value] if isinstance(value, str) else value):
                out.append(f"  <g:{name}>{escape(one)}</g:{name}>\n")
        out.append("</item>\n")
    out.append("</channel>\n</rss>\n")
    return "".join(out)


def tsv_feed(items: Sequence[Mapping[str, str | Sequence[str]]]) -> str:
    """Tab-separated text: a header row, repeated values comma-joined (values hold no tab or newline)."""
    names = list(dict.fromkeys(name for attrs in items for name in attrs))
    rows = ["\t".join(names)]
    for attrs in items:
        rows.append("\t".join(_cell(attrs.get(name, "")) for name in names))
    return "\n".join(rows) + "\n"


def _cell(value: str | Sequence[str]) -> str:
    return value if isinstance(value, str) else ",".join(value)


def write_feed(path: Path, items: Sequence[Mapping[str, str | Sequence[str]]]) -> Path:
    """``items`` at ``path``: TSV when the name ends in ``.tsv`` or ``.txt``, else XML."""
    text = tsv_feed(items) if path.suffix in (".tsv", ".txt") else xml_feed(items)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
