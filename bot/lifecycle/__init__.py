"""The model lifecycle: registry, gold set, replay, gate, live swap (docs/lifecycle.md)."""
