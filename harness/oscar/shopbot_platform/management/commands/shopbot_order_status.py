"""Move an order to a new status the way Oscar's dashboard does (the pipeline is enforced).

django-oscar-api's admin API reads orders but cannot change them, so tests change a status here.
"""

from django.core.management.base import BaseCommand, CommandError
from oscar.apps.order.exceptions import InvalidOrderStatus
from oscar.core.loading import get_class, get_model

Order = get_model("order", "Order")
EventHandler = get_class("order.processing", "EventHandler")


class Command(BaseCommand):
    help = "Set the status of the order with this number."

    def add_arguments(self, parser):
        parser.add_argument("number")
        parser.add_argument("status")

    def handle(self, *args, number, status, **options):
        try:
            order = Order.objects.get(number=number)
        except Order.DoesNotExist as err:
            raise CommandError(f"no order {number}") from err
        try:
            EventHandler().handle_order_status_change(order, status)
        except InvalidOrderStatus as err:
            raise CommandError(str(err)) from err
