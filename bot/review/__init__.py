"""Auditor review: flagged turns, reviews, statistics, drift, and promoting corrections into the knowledge."""
