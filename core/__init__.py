"""The leaf of the house: errors, settings, the turn vocabulary, messages, shop tables, the DB engine.

Nothing here imports another Shopbot package (``make lint`` checks it with import-linter).
"""
