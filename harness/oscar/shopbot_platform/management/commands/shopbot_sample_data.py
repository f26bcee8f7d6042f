"""Fill a freshly migrated shop with Shopbot's sample data, made with Oscar's own test factories.

The catalogue: standalone products in and out of stock (one low, one at 0), a T-shirt parent
with colour/size child variants, product images (files under MEDIA_ROOT, served by the shop),
and a few orders in different statuses, for signed-in customers and for a guest. Two API users:
a read-only staff user for the order connector and a staff admin for the tests' changes; their
passwords and tokens come from the environment (generated per run by the harness).

Prints one JSON object: the ids tests refer to (products by sample key, order numbers).
"""

import io
import json
import os
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from oscar.apps.partner.strategy import Default
from oscar.core.loading import get_model
from oscar.test import factories
from PIL import Image
from rest_framework.authtoken.models import Token

Basket = get_model("basket", "Basket")
Category = get_model("catalogue", "Category")
Country = get_model("address", "Country")
Partner = get_model("partner", "Partner")
ProductClass = get_model("catalogue", "ProductClass")
ShippingAddress = get_model("order", "ShippingAddress")
StockRecord = get_model("partner", "StockRecord")
User = factories.UserFactory._meta.model

# key: (title, class, category, price, stock, attributes, image colours, description)
STANDALONE = {
    "mug": ("Enamel Camping Mug", "Homeware", "Kitchen", "8.50", 40,
            {"colour": "White", "material": "Enamel", "brand": "Trailhead"}, ["#f4f4f4", "#1d3557"],
            "A light enamel mug for tea by the campfire. Holds 350 ml."),
    "towel": ("Linen Tea Towel", "Homeware", "Kitchen", "6.00", 3,
              {"colour": "Blue", "material": "Linen", "brand": "Flaxworks"}, ["#457b9d"],
              "Stonewashed linen, 50 x 70 cm."),
    "skillet": ("Cast Iron Skillet", "Homeware", "Kitchen", "32.00", 0,
                {"colour": "Black", "material": "Cast iron", "brand": "Trailhead"}, ["#222222"],
                "A pre-seasoned 26 cm skillet for hob, oven and fire."),
    "board": ("Bamboo Cutting Board", "Homeware", "Kitchen", "14.50", 12,
              {"material": "Bamboo", "brand": "Flaxworks"}, [],
              "A reversible board with a juice groove."),
}
TSHIRT = ("Organic Cotton T-shirt", "T-shirt", "T-shirts",
          "A heavyweight organic cotton T-shirt with a relaxed fit.",
          {"material": "Organic cotton", "brand": "Flaxworks"}, ["#c1121f", "#003049"])
# key: (colour, size, price, stock)
VARIANTS = {
    "tshirt-red-s": ("Red", "S", "12.00", 5),
    "tshirt-red-m": ("Red", "M", "12.00", 0),
    "tshirt-navy-s": ("Navy", "S", "13.00", 2),
    "tshirt-navy-m": ("Navy", "M", "13.00", 9),
}
# number: (customer key or None for a guest, guest email, postcode, status, days ago, [(product, qty)])
ORDERS = {
    "100001": ("alice", "", "SW1A 1AA", "Being processed", 2, [("mug", 2), ("towel", 1)]),
    "100002": (None, "guest@example.com", "EH1 1YZ", "Dispatched", 5, [("tshirt-navy-m", 1)]),
    "100003": ("bob", "", "M1 1AE", "Pending", 1, [("skillet", 1), ("mug", 1)]),
    "100004": ("alice", "", "SW1A 1AA", "Delivered", 30, [("tshirt-red-s", 2), ("board", 1)]),
    "100005": ("bob", "", "M1 1AE", "Cancelled", 12, [("mug", 4)]),
}
CUSTOMERS = {"alice": "alice@example.com", "bob": "bob@example.com"}


class Command(BaseCommand):
    help = "Load Shopbot's sample catalogue, orders and API users (into an empty, migrated shop)."

    def handle(self, *args, **options):
        with transaction.atomic():
            ids = self._load()
        self.stdout.write(json.dumps(ids))

    def _load(self):
        partner, _ = Partner.objects.get_or_create(name="Shopbot Sample Partner")
        categories = {"Kitchen": Category.add_root(name="Kitchen"),
                      "T-shirts": Category.add_root(name="Clothing").add_child(name="T-shirts")}
        products = {}
        for key, (title, cls, category, price, stock, attrs, colours, text) in STANDALONE.items():
            product = factories.create_product(title=title, product_class=cls, attributes=attrs,
                                               description=text)
            _stock(product, partner, key, price, stock)
            _file(product, categories[category], colours, key)
            products[key] = product

        title, cls, category, text, attrs, colours = TSHIRT
        parent = factories.create_product(title=title, product_class=cls, structure="parent",
                                          attributes=attrs, description=text)
        _file(parent, categories[category], colours, "tshirt")
        products["tshirt"] = parent
        for key, (colour, size, price, stock) in VARIANTS.items():
            child = factories.create_product(title=f"{title} ({colour}, {size})", parent=parent,
                                             product_class=cls, attributes={"colour": colour, "size": size})
            _stock(child, partner, key, price, stock)
            products[key] = child

        customers = {key: factories.UserFactory(username=key, email=email)
                     for key, email in CUSTOMERS.items()}
        gb = factories.CountryFactory(iso_3166_1_a2="GB", printable_name="United Kingdom",
                                      name="United Kingdom of Great Britain and Northern Ireland")
        for number, (who, guest, postcode, status, days, lines) in ORDERS.items():
            basket = Basket.objects.create()
            basket.strategy = Default()
            for key, quantity in lines:
                basket.add_product(products[key], quantity)
            address = ShippingAddress(first_name="Sam", last_name="Sample", line1="1 High Street",
                                      line4="Town", postcode=postcode, country=gb)
            address.save()
            factories.create_order(number=number, basket=basket, shipping_address=address,
                                   user=customers[who] if who else None, guest_email=guest,
                                   status=status, date_placed=timezone.now() - timedelta(days=days))
        # The sample orders are taken as already fulfilled: the stock numbers above are what is
        # on the shelf now, not less what the orders allocated.
        for key in (*STANDALONE, *VARIANTS):
            StockRecord.objects.filter(product=products[key]).update(num_allocated=0)

        _api_users()
        return {"products": {key: product.pk for key, product in products.items()},
                "orders": list(ORDERS), "customers": {key: user.pk for key, user in customers.items()}}


def _stock(product, partner, key, price, stock):
    StockRecord.objects.create(product=product, partner=partner, partner_sku=f"SKU-{key.upper()}",
                               price_currency="GBP", price=Decimal(price), num_in_stock=stock)


def _file(product, category, colours, key):
    product.categories.add(category)
    for position, colour in enumerate(colours):
        image = ContentFile(_jpeg(colour), name=f"{key}-{position}.jpg")
        factories.create_product_image(product, original=image, caption=product.title,
                                       display_order=position)


def _jpeg(colour):
    out = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(out, format="JPEG")
    return out.getvalue()


def _api_users():
    # The order connector's user may only read orders and their lines (least privilege).
    reader = User.objects.create_user("shopbot-reader", "reader@example.com",
                                      os.environ["SHOPBOT_OSCAR_READER_PASSWORD"], is_staff=True)
    reader.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="order", codename__in=("view_order", "view_line")))
    Token.objects.create(user=reader, key=os.environ["SHOPBOT_OSCAR_READER_TOKEN"])
    admin = User.objects.create_superuser("shop-admin", "admin@example.com",
                                          os.environ["SHOPBOT_OSCAR_ADMIN_PASSWORD"])
    Token.objects.create(user=admin, key=os.environ["SHOPBOT_OSCAR_ADMIN_TOKEN"])
