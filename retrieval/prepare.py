"""Build the demo shop tables (products, orders, customers) from the UCI Online Retail CSV.

The rules are documented in ``docs/data.md``; every derived value (category, order status,
expected delivery) is a pure function of the transactions, so two runs give the same files.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from tqdm import tqdm

from core.errors import BadRequest
from retrieval.product_facts import build_facts

# Stock codes that are charges, fees, adjustments or vouchers rather than things on a shelf.
_NON_PRODUCT = re.compile(
    r"^(?:POST|DOT|C2|M|D|S|B|CRUK|PADS|BANK CHARGES|AMAZONFEE|ADJUST\d*|TEST\d*|GIFT_.*)$"
)
# A few service charges hide behind ordinary numeric codes.
_CHARGE_DESCRIPTION = re.compile(r"^(?:NEXT DAY CARRIAGE|PACKING CHARGE|CARRIAGE|POSTAGE)$")
# Shipping charges are not products but stay on the orders they were billed on.
_SHIPPING = {"POST": "Postage", "DOT": "Dotcom Postage", "C2": "Carriage"}

# First matching rule wins, so narrow themes (Christmas, party bags) come before broad ones.
_CATEGORY_RULES: tuple[tuple[str, str], ...] = (
    ("Christmas", r"CHRISTMAS|XMAS|ADVENT|SANTA|REINDEER|SNOWMAN|SNOWFLAKE|SNOW STAR|BAUBLE|"
                  r"NATIVITY|JINGLE|HOLLY|STOCKING|ELF|ROBIN|TREE TOP|MISTLETOE|NOEL"),
    ("Party", r"PARTY|BUNTING|BALLOON|EASTER|CONFETTI|BIRTHDAY(?! CARD)|STRAWS|PINATA|"
              r"CAKE CANDLES|VALENTINE|WEDDING|HALLOWEEN|GARLAND|PAPER CHAIN|SPARKLER"),
    ("Cards & Wrapping", r"(?<!PLAYING )CARDS?\b(?! HOLDER| WALLET)|WRAP|GIFT BAG|"
                         r"GIFT TAGS?|TISSUE PAPER|TISSUE REAM|RIBBONS?|ENVELOPES?|GIFT BOXES|"
                         r"TAGS"),
    ("Candles & Lighting", r"CANDLE|T-LIGHT|TLIGHT|TEA LIGHT|LANTERN|LAMP|CHANDELIER|"
                           r"LIGHTS?\b(?! ?(?:PINK|BLUE|GREEN|BROWN|GREY|PURPLE))|"
                           r"OIL BURNER|INCENSE|VOTIVE|NIGHTLIGHT|WAX|TORCH"),
    ("Toys & Games", r"TOY|GAMES?|JIGSAW|PUZZLE|DOLL\b|DOLLS\b|MARBLES|SKITTLES|DOMINO|"
                     r"PLAYING CARDS|SPINNING TOP|HARMONICA|TEDDY|BUBBLES|YO-YO|KITE|"
                     r"CRAYONS|COLOURING|MAGIC|SOLDIERS|PLAYHOUSE|KNITTING|SEWING KIT|"
                     r"CRAFT|NINJA|PIRATE|ROCKET|RATTLE|BLOCK WORD|SNAKES?\b|INFLATABLE|"
                     r"SPACE\b|MONSTER|PIECE DINOSAUR|CREEPY|BINGO|SKIPPING|LUDO|N[AO]UGHTS|"
                     r"FLYING DISC|MODELLING|HELICOPTER|ROCKING HORSE|PUPPET|"
                     r"FELTCRAFT (?:BOY|GIRL|DOLL|PRINCESS)|"
                     r"STAMP SET|LOLLY MAKERS|GLOW IN|WHEELBARROW|BEACH SPADE|SANDCASTLE|"
                     r"TATTOO|FELT FARM|COOKING SET|SPORTING FUN|PIGGY BANK|MONEY BOX|PAINT SET|"
                     r"PAINT YOUR OWN"),
    ("Jewellery & Accessories", r"NECKLACE|BRACELET|EARRING|\bRING\b|CHARM|BEADS?\b|BROOCH|"
                                r"HAIR|BANGLE|PENDANT|DIAMANTE|UMBRELLA|SCARF|\bHAT\b|"
                                r"(?<!OVEN )(?<!WASHING UP )GLOVES?\b|"
                                r"KEYRING|KEY RING|SUNGLASSES|PASSPORT|LUGGAGE TAG|TIARA|"
                                r"JEWELLERY|CUFFLINKS|PARASOL|COMPACT MIRROR|WATCH|NECKL|BRACLET|"
                                r"LARIAT|HAND WARMER|EAR MUFF|HEADPHONES|RAIN PONCHO|RAIN MAC|"
                                r"LIP GLOSS|BICYCLE CLIPS|KEY FOB|SHOWER CAP|SOMBRERO|"
                                r"GRASS SKIRT|SLIPPER"),
    ("Stationery", r"NOTEBOOK|NOTE ?BOOK|\bPENS?\b|PENCILS?|SKETCHBOOK|CALENDAR|DIARY|ERASER|"
                   r"RUBBERS?\b|STICKERS?|TAPE|MEMO|JOURNAL|RULER|SHARPENER|NOTEPAD|PAPERWEIGHT|"
                   r"STATIONERY|PHOTO ALBUM|SCRAPBOOK|CHALK|BOOKMARK|ADDRESS BOOK|PAD\b|"
                   r"POCKET BOOK|EXERCISE BOOK|WRITING SET|HOLE PUNCH|SCISSOR|P'WEIGHT|"
                   r"POSTCARD|NOTELET|BADGES?\b|BLACK ?BOARD"),
    ("Signs & Plaques", r"SIGN\b|SIGNS\b|DOORSIGN|PLAQUE|NUMBER TILE|DOOR NUMBER|WALL ART|"
                        r"WALL TIDY"),
    ("Garden", r"GARDEN|PLANT|FLOWER POT|WATERING|BIRD FEEDER|BIRDHOUSE|BIRD HOUSE|TROWEL|RAKE|"
               r"SEEDS?\b|HERB MARKER|GNOME|HAMMOCK|(?<!KITCHEN )THERMOMETER|WINDMILL|"
               r"PLANTER|WIND CHIME|HOSE|GREENHOUSE|BIRD TABLE|DOVECOTE|GROW YOUR OWN|TWINE|"
               r"KNEELING"),
    ("Bags & Purses", r"(?<!TEA )BAGS?\b|HANDBAG|PURSE|WALLET|TOTE|SHOPPER|WASHBAG|BACKPACK|"
                      r"RUCKSACK|SATCHEL"),
    ("Kitchen & Dining", r"\bMUGS?\b|\bCUPS?\b|SAUCER|PLATES?\b|BOWLS?\b|\bJARS?\b|TEA|COFFEE|"
                         r"CAKE|BAKING|CUTLERY|NAPKIN|PLACEMAT|COASTER|\bTRAYS?\b|\bJUG\b|"
                         r"KITCHEN|APRON|OVEN|LUNCH BOX|BISCUIT|COOKIE|CASES|PANTRY|JAM|SUGAR|"
                         r"MILK|BEAKER|\bDISH|FRYING|MOULD|MEASURING|CHOPSTICK|RECIPE|EGG|"
                         r"TOAST|BREAD|FOOD|SNACK|DINNER|POPCORN|PUDDING|GLASSES|TUMBLER|"
                         r"SPOON|FORK|KNIFE|TEAPOT|BOTTLE OPENER|DRINKS|PICNIC|SCALES|"
                         r"CHOPPING|ROLLING PIN|ICE|LADLE|COLANDER|BREAKFAST|CRUET|FLASK|"
                         r"CHOCOLATE|WINE|BEER|DOIL(?:Y|IES)|CHALICE|FRUITBOWL|SALT AND PEPPER|"
                         r"TABLECLOTH|SQUEEZER|COCKTAIL|UTENSIL|CUPCAKE|BIB\b|"
                         r"(?:APERITIF|CHAMPAGNE|D\.O\.F\.) GLASS"),
    ("Storage", r"STORAGE|BOX\b|BOXES|TINS?\b|BASKET|DRAWER|CABINET|CRATE|HAMPER|CHEST|"
                r"ORGANISER|SHELF|RACK\b|BUCKET|HOLDALL|CASE\b|TIDY|PEG|BIN\b|CONTAINER"),
    ("Home Decor", r"CUSHION|FRAME|MIRROR|CLOCK|DOORMAT|HEART|DECORATION|VASE|HOOK|HANGER|"
                   r"DOORSTOP|KNOB|THROW|BLANKET|HOT WATER BOTTLE|ORNAMENT|WREATH|FLOWERS?\b|"
                   r"TOWEL|SOAP|BATHROOM|CURTAIN|DRAUGHT|STAR\b|BIRD\b|WICKER|QUILT|"
                   r"LAMPSHADE|PICTURE|BELL|FEATHER|CHIME|MAGNETS?|BUTTERFLY|DOOR STOP|"
                   r"MOBILE|BOTTLE|PARROT|BUNNY|HEN\b|CHICK|CAT\b|DOG\b|OWL|SHELL|BATH|FAN\b|"
                   r"HONEYCOMB|PHOTO|MATCHES|POUFFE|STOOL|CHAIR|FLANNEL|LETTERS|ROSETTE|"
                   r"TRINKET|CLOCHE|MAT\b|PENNANT|FLYING DUCKS|FLAG|FLY SWAT|RADIO|"
                   r"SCREEN|PORCELAIN ROSE|MUSHROOM|TOADSTOOL|IRONING|GEISHA|CERAMIC BALL"),
)
# Every keyword starts at a word boundary: "OWL" must not match "BOWL".
_CATEGORIES = tuple((name, re.compile(rf"\b(?:{pattern})")) for name, pattern in _CATEGORY_RULES)
OTHER = "Other"

_SMALL_WORDS = frozenset({"OF", "AND", "IN", "WITH", "THE", "FOR", "ON", "TO", "A", "AN", "OR"})
_ACRONYMS = frozenset({"LED", "UK", "USA", "TV", "DVD", "CD", "DIY", "XL", "UV", "NYC", "I", "II"})
_WORD_FIXES = {"CHILDS": "Child's", "CHILDRENS": "Children's", "DOILEY": "Doily",
               "DOILEYS": "Doilies", "PC": "pc", "CM": "cm", "ANT": "Antique", "W": "with",
               "ASS": "Assorted", "ASST": "Assorted", "ASSTD": "Assorted"}

UK = "United Kingdom"
EUROPE = frozenset({
    "Austria", "Belgium", "Channel Islands", "Cyprus", "Czech Republic", "Denmark", "EIRE",
    "European Community", "Finland", "France", "Germany", "Greece", "Iceland", "Italy",
    "Lithuania", "Malta", "Netherlands", "Norway", "Poland", "Portugal", "Spain", "Sweden",
    "Switzerland",
})
# Working days from order to expected delivery; the FAQ promises the same ranges.
DELIVERY_WORKING_DAYS = {"uk": 3, "europe": 5, "world": 10}


@dataclass(frozen=True)
class PrepareReport:
    """What ``prepare_shop`` read and wrote."""

    rows: int
    products: int
    orders: int
    cancelled_orders: int
    guest_orders: int
    customers: int
    skipped_rows: int
    as_of: str
    seconds: float


@dataclass(frozen=True)
class Transaction:
    """One parsed CSV row."""

    invoice: str
    code: str
    description: str
    quantity: int
    invoiced: datetime
    price: float
    customer_id: str | None
    country: str

    @property
    def cancelled(self) -> bool:
        return self.invoice.upper().startswith("C")

    @property
    def sale(self) -> bool:
        """A priced sale line (the basis of names, prices and popularity)."""
        return not self.cancelled and self.quantity > 0 and self.price > 0


# Bumped whenever the tables' shape changes, so `shopbot setup` rebuilds older ones.
SHOP_FORMAT = 4  # 3: products carry their facts (retrieval/product_facts.py); 4: demo-products.json
FORMAT_FILE = "format.json"


def is_prepared(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds shop tables in the current format."""
    try:
        return json.loads((out_dir / FORMAT_FILE).read_text(encoding="utf-8"))["format"] == SHOP_FORMAT
    except (OSError, ValueError, KeyError, TypeError):
        return False


def prepare_shop(
    csv_path: Path,
    out_dir: Path,
    *,
    limit_rows: int | None = None,
    as_of: date | None = None,
    progress: bool = False,
) -> PrepareReport:
    """Write ``products.json``, ``orders.json``, ``customers.json`` (and
    ``descriptions.json``: the most common original description per stock code) into
    ``out_dir``.

    ``limit_rows`` reads only the first rows (for quick test shops); ``as_of`` is the day the
    demo statuses are computed for, by default the last invoice day read.
    """
    started = time.perf_counter()
    rows = list(read_rows(csv_path, limit_rows=limit_rows, progress=progress))
    if not rows:
        raise BadRequest(f"{csv_path} has no transactions")
    as_of = as_of or max(row.invoiced for row in rows).date()
    products, descriptions = build_products(rows)
    names = {p["stock_code"]: p["name"] for p in products}
    categories = {p["stock_code"]: p["category"] for p in products}
    facts = build_facts((r for r in rows if r.sale), names, categories)
    for product in products:
        product["facts"] = facts[product["stock_code"]]
    orders, used = build_orders(rows, names, as_of)
    customers = build_customers(orders)
    out_dir.mkdir(parents=True, exist_ok=True)
    # The demo's catalogue source (retrieval/catalogue/demo.py), and its first sync: the catalogue
    # the bot answers from, which `shopbot catalogue sync` replaces from whatever source is set.
    _write_json(out_dir / "demo-products.json", products)
    _write_json(out_dir / "products.json", products)
    _write_json(out_dir / "orders.json", orders)
    _write_json(out_dir / "customers.json", customers)
    _write_json(out_dir / "descriptions.json", descriptions)
    _write_json(out_dir / FORMAT_FILE, {"format": SHOP_FORMAT})
    return PrepareReport(
        rows=len(rows),
        products=len(products),
        orders=len(orders),
        cancelled_orders=sum(o["status"] == "cancelled" for o in orders),
        guest_orders=sum(o["customer_id"] is None for o in orders),
        customers=len(customers),
        skipped_rows=len(rows) - used,
        as_of=as_of.isoformat(),
        seconds=round(time.perf_counter() - started, 3),
    )


def read_rows(
    csv_path: Path, *, limit_rows: int | None = None, progress: bool = False
) -> Iterator[Transaction]:
    """Parse the transactions CSV, failing with the line number on a malformed row."""
    try:
        handle = csv_path.open(newline="", encoding="utf-8")
    except OSError as err:
        raise BadRequest(f"cannot read transactions from {csv_path}: {err}") from err
    with handle:
        reader = csv.DictReader(handle)
        for count, raw in enumerate(tqdm(reader, desc="reading", disable=not progress)):
            if limit_rows is not None and count >= limit_rows:
                break
            yield _parse(raw, reader.line_num)


def _parse(raw: dict[str, str], line: int) -> Transaction:
    try:
        return Transaction(
            invoice=raw["InvoiceNo"].strip(),
            code=raw["StockCode"].strip().upper(),
            description=" ".join((raw["Description"] or "").split()),
            quantity=int(raw["Quantity"]),
            invoiced=datetime.fromisoformat(raw["InvoiceDate"].strip()),
            price=float(raw["UnitPrice"]),
            customer_id=_customer_id(raw["CustomerID"]),
            country=raw["Country"].strip(),
        )
    except (KeyError, ValueError, AttributeError) as err:
        raise BadRequest(f"malformed transaction on line {line}: {err}") from err


def _customer_id(value: str | None) -> str | None:
    # The source stores ids as floats ("13607.0").
    value = (value or "").strip()
    return str(int(float(value))) if value else None


def is_product(code: str, description: str = "") -> bool:
    """False for postage, fees, manual adjustments, samples and gift vouchers."""
    if _NON_PRODUCT.match(code.upper()):
        return False
    return not _CHARGE_DESCRIPTION.match(" ".join(description.upper().split()))


def charge_name(code: str, description: str) -> str | None:
    """The line name of a shipping or packing charge; None for anything else."""
    if code.upper() in _SHIPPING:
        return _SHIPPING[code.upper()]
    text = " ".join(description.upper().split())
    return clean_name(text) if _CHARGE_DESCRIPTION.match(text) else None


def clean_name(description: str) -> str:
    """Readable product name: collapsed spaces, title case, small words and units lowered."""
    words = description.upper().strip(" .,").split()
    name = " ".join(_clean_word(word, first=i == 0) for i, word in enumerate(words))
    return re.sub(r"'S\b", "'s", name)


def _clean_word(word: str, *, first: bool) -> str:
    if word in _WORD_FIXES:
        return _WORD_FIXES[word]
    if word in _SMALL_WORDS and not first:
        return word.lower()
    # Split on joiners so "T-LIGHT" and "SET/3" keep their punctuation.
    return "".join(_clean_piece(piece) for piece in re.split(r"([-/.,+&'])", word))


def _clean_piece(piece: str) -> str:
    if piece in _ACRONYMS or not piece.isalnum():
        return piece
    if any(ch.isdigit() for ch in piece):
        # Sizes and counts read better lower-cased ("45x45cm", "125g"), but not "3D" or "A4".
        return piece if re.fullmatch(r"\d+D|[A-Z]\d+", piece) else piece.lower()
    return piece.capitalize()


def categorise(description: str) -> str:
    """The shop category of a product, by the first keyword rule its description matches."""
    text = " ".join(description.upper().split())
    return next((name for name, rule in _CATEGORIES if rule.search(text)), OTHER)


def build_products(rows: Iterable[Transaction]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Catalogue rows (one per priced stock code) and each code's original description."""
    by_code: dict[str, list[Transaction]] = defaultdict(list)
    for row in rows:
        if is_product(row.code, row.description) and row.price > 0 and row.description:
            by_code[row.code].append(row)
    products, descriptions = [], {}
    for code in sorted(by_code):
        priced = by_code[code]
        # Prefer real sales; a product seen only in cancellations keeps its credited price.
        basis = [r for r in priced if r.sale] or priced
        description = Counter(r.description for r in basis).most_common(1)[0][0]
        descriptions[code] = description
        products.append({
            "stock_code": code,
            "name": clean_name(description),
            "price": round(statistics.median(r.price for r in basis), 2),
            "category": categorise(description),
            "popularity": len({r.invoice for r in priced if r.sale}),
        })
    return products, descriptions


def delivery_zone(country: str) -> str:
    """``uk``, ``europe`` or ``world``."""
    if country == UK:
        return "uk"
    return "europe" if country in EUROPE else "world"


def add_working_days(start: date, days: int) -> date:
    """``start`` plus ``days`` Monday-to-Friday days."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def order_status(invoice: str, invoiced: date, country: str, as_of: date) -> tuple[str, date]:
    """Demo status and expected delivery of an order, seen from the day ``as_of``."""
    expected = add_working_days(invoiced, DELIVERY_WORKING_DAYS[delivery_zone(country)])
    age = (as_of - invoiced).days
    if invoice.upper().startswith("C"):
        return "cancelled", expected
    if age <= 1:
        return "processing", expected
    if as_of >= expected:
        return "delivered", expected
    return ("dispatched" if age <= 3 else "in transit"), expected


def build_orders(
    rows: Iterable[Transaction], names: dict[str, str], as_of: date
) -> tuple[list[dict[str, Any]], int]:
    """One order per invoice with at least one product or shipping line; also the rows used."""
    by_invoice: dict[str, list[Transaction]] = defaultdict(list)
    for row in rows:
        by_invoice[row.invoice].append(row)
    orders, used = [], 0
    for invoice, invoice_rows in by_invoice.items():
        lines = [_line(row, names) for row in invoice_rows if _billed(row, names)]
        if not lines:
            continue
        used += len(lines)
        head = invoice_rows[0]
        invoiced = min(row.invoiced for row in invoice_rows)
        status, expected = order_status(invoice, invoiced.date(), head.country, as_of)
        email, postcode = demo_contact(head.customer_id, invoice)
        orders.append({
            "order_id": invoice,
            "customer_id": head.customer_id,
            "date": invoiced.isoformat(),
            "country": head.country,
            "status": status,
            "expected_delivery": expected.isoformat(),
            "email": email,
            "postcode": postcode,
            "lines": lines,
        })
    orders.sort(key=lambda o: (o["date"], o["order_id"]))
    return orders, used


# Outward codes of UK postcode districts, for demo addresses (the inward part is derived too).
_OUTWARD = ("SW1A", "EC1A", "W1A", "M1", "B1", "LS1", "G1", "EH1", "CF10", "BS1", "L1", "NE1",
            "NG1", "S1", "OX1", "CB2", "BN1", "YO1", "PL1", "EX1")
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def demo_contact(customer_id: str | None, invoice: str) -> tuple[str, str]:
    """The demo e-mail address and postcode an order was placed with (made up, deterministic).

    A known customer has one of each for all their orders; a guest order has its own.
    """
    who = f"customer{customer_id}" if customer_id else f"guest{invoice.lstrip('C')}"
    digest = hashlib.sha256(who.encode()).digest()
    inward = f"{digest[1] % 10}{_INWARD_LETTERS[digest[2] % 20]}{_INWARD_LETTERS[digest[3] % 20]}"
    return f"{who}@shopbot-demo.example", f"{_OUTWARD[digest[0] % len(_OUTWARD)]} {inward}"


def _billed(row: Transaction, names: dict[str, str]) -> bool:
    # Zero-price rows without a customer are stock-take notes ("damaged", "lost"), not sales.
    if row.price <= 0 and row.customer_id is None:
        return False
    return row.code in names or charge_name(row.code, row.description) is not None


def _line(row: Transaction, names: dict[str, str]) -> dict[str, Any]:
    # Cancellation quantities are negative in the source; the order lists what was cancelled.
    return {
        "stock_code": row.code,
        "name": names.get(row.code) or charge_name(row.code, row.description),
        "quantity": abs(row.quantity),
        "price": round(row.price, 2),
    }


def build_customers(orders: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Known customers with their orders oldest first and their usual country."""
    by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for order in orders:
        if order["customer_id"] is not None:
            by_customer[order["customer_id"]].append(order)
    customers = []
    for customer_id in sorted(by_customer, key=lambda c: (len(c), c)):
        history = sorted(by_customer[customer_id], key=lambda o: (o["date"], o["order_id"]))
        # Most frequent country; ties go to the most recent one.
        counts = Counter(o["country"] for o in history)
        country = max(reversed(history), key=lambda o: counts[o["country"]])["country"]
        customers.append({
            "customer_id": customer_id,
            "country": country,
            "order_ids": [o["order_id"] for o in history],
        })
    return customers


def _write_json(path: Path, data: list[Any] | dict[str, Any]) -> None:
    # One record per line keeps the files diffable; write-then-rename keeps them whole.
    if isinstance(data, list):
        body = "[\n" + ",\n".join(json.dumps(item, ensure_ascii=False) for item in data) + "\n]\n"
    else:
        body = json.dumps(data, ensure_ascii=False, indent=0) + "\n"
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(path)
