"""The shop's side of identity verification in tests: a secret and the tokens it signs."""

from __future__ import annotations

from typing import Any

from bot.engine.identity import IdentityVerifier, sign

IDENTITY_ENV = "SHOPBOT_TEST_IDENTITY_SECRET"
SECRET = b"test-identity-secret-shared-with-the-shop"


def token(customer_id: str) -> str:
    """What the shop's backend sends along with a signed-in customer's id."""
    return sign(SECRET, customer_id)


def signed_for(claims: Any) -> str | None:
    """The customer id ``claims`` (metadata, customData) prove with a token of this secret, else None.

    Tokens carry the second they were signed, so tests check them this way, not by equality.
    """
    return IdentityVerifier(SECRET).verify(claims) if isinstance(claims, dict) else None
