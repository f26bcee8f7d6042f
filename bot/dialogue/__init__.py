"""Dialogue: messages, conversation memory, routing and the turn pipeline."""
