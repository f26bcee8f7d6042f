"""The catalogue feature: each worker follows the synced catalogue, and syncs it on a schedule
(``/api/catalogue``; docs/shop-data.md)."""
