"""The shared serving resources every feature reads: one cleanup context per heavy resource,
each with the typed keys of what it builds. They run on the root application, before any
feature starts, in the order ``bot/server.py`` lists them."""
