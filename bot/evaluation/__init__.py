"""Router evaluation: metrics and the `shopbot eval` run through the live policy."""
