"""Turn log, quality flags, metrics, review and evaluation."""
