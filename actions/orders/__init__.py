"""Where the shop's orders come from: the demo tables or the shop's own system, live.

``source.OrderSource`` is the one interface; ``choose.live_order_source`` reads
``SHOPBOT_ORDERS_SOURCE`` (docs/orders.md).
"""
