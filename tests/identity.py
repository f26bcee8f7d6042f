"""The shop's side of identity verification in tests: a secret and the tokens it signs."""

from __future__ import annotations

from bot.engine.identity import sign

IDENTITY_ENV = "SHOPBOT_TEST_IDENTITY_SECRET"
SECRET = b"test-identity-secret-shared-with-the-shop"


def token(customer_id: str) -> str:
    """What the shop's backend sends along with a signed-in customer's id."""
    return sign(SECRET, customer_id)
