"""Shoppers' identity, verified by the shop: only a customer id the shop has signed is trusted.

The shop's backend signs the signed-in customer's id with a secret it shares with Shopbot
(named by ``SHOPBOT_IDENTITY_SECRET_ENV``), as Intercom's and Chatwoot's identity verification
do, and the widget (``data-customer-token``) or any channel passes it in the message metadata:

* ``{"customer_id": "17841", "customer_token": hex(HMAC-SHA256(secret, "17841"))}``, or
* ``{"customer_token": "<JWT>"}``: HS256, signed with the same secret, ``sub`` the customer id
  and an ``exp`` in the future.

Anything else (no secret configured, no token, a wrong one, an expired JWT) is an anonymous
shopper: no personal picks, no order details without the order's e-mail or postcode.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

CUSTOMER_ID = "customer_id"
CUSTOMER_TOKEN = "customer_token"
# Metadata keys that only this module may interpret; they never reach actions or the log as sent.
IDENTITY_KEYS = frozenset({CUSTOMER_ID, CUSTOMER_TOKEN})
MAX_ID_CHARS = 64


def sign(secret: bytes, customer_id: str) -> str:
    """The HMAC token of ``customer_id`` (what the shop's backend computes)."""
    return hmac.new(secret, customer_id.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_jwt(secret: bytes, customer_id: str, ttl_s: int = 3600, now: float | None = None) -> str:
    """An HS256 JWT for ``customer_id`` that expires in ``ttl_s`` seconds."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    issued = int(now if now is not None else time.time())
    claims = {"sub": customer_id, "iat": issued, "exp": issued + ttl_s}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


class IdentityVerifier:
    """Turns message metadata into a verified customer id, or None (an anonymous shopper)."""

    def __init__(self, secret: bytes | None, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret or None
        self._clock = clock

    @property
    def enabled(self) -> bool:
        """Whether a secret is configured (without one, nobody is verified)."""
        return self._secret is not None

    def verify(self, metadata: Mapping[str, Any]) -> str | None:
        """The customer id the shop signed, or None."""
        token = metadata.get(CUSTOMER_TOKEN)
        if self._secret is None or not isinstance(token, str) or not token or len(token) > 4096:
            return None
        if token.count(".") == 2:
            return self._jwt(token)
        claimed = metadata.get(CUSTOMER_ID)
        if isinstance(claimed, int) and not isinstance(claimed, bool):
            claimed = str(claimed)
        if not isinstance(claimed, str) or not claimed or len(claimed) > MAX_ID_CHARS:
            return None
        expected = sign(self._secret, claimed)
        return claimed if hmac.compare_digest(expected, token.lower()) else None

    def _jwt(self, token: str) -> str | None:
        assert self._secret is not None
        header, payload, signature = token.split(".")
        expected = hmac.new(self._secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(expected, _unb64(signature)):
                return None
            head, claims = json.loads(_unb64(header)), json.loads(_unb64(payload))
        except (ValueError, TypeError):
            return None
        if not isinstance(head, dict) or head.get("alg") != "HS256" or not isinstance(claims, dict):
            return None
        subject, expires = claims.get("sub"), claims.get("exp")
        if not isinstance(expires, int | float) or expires <= self._clock():
            return None
        if not isinstance(subject, str) or not subject or len(subject) > MAX_ID_CHARS:
            return None
        return subject


def without_identity(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """``metadata`` without the identity claims (what may be logged or passed on as is)."""
    return {k: v for k, v in metadata.items() if k not in IDENTITY_KEYS}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
