"""Staff handoff: the console's queue, live feed, claims, replies and transcripts (``/api/handoffs``,
``/api/conversations``)."""
