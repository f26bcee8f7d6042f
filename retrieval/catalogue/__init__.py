"""The shop's catalogue read from the shop's own exports (a Merchant Center product feed first)."""
