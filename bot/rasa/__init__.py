"""Running a Rasa 3 project on Shopbot: its responses, one-step turns, custom actions and payloads."""
