"""Shoppers' identity, verified by the shop: only a customer id the shop has signed is trusted.

The shop's backend signs the signed-in customer's id with a secret it shares with Shopbot
(named by ``SHOPBOT_IDENTITY_SECRET_ENV``), as Intercom's and Chatwoot's identity verification
do, and the widget (``data-customer-token``) or any channel passes it in the message metadata:

* ``{"customer_id": "17841", "customer_token": "<ts>.<hex HMAC-SHA256(secret, "17841.<ts>")>"}``,
  ``ts`` the Unix time it was signed: good for ``max_age_s`` (a day by default);
* ``{"customer_id": "17841", "customer_token": hex(HMAC-SHA256(secret, "17841"))}``, the old form
  without a time, which never expires: refused unless the shop turns ``accept_untimed`` on;
* ``{"customer_token": "<JWT>"}``: HS256, signed with the same secret, ``sub`` the customer id
  and an ``exp`` in the future, at most ``max_age_s`` ahead.

Anything else (no secret configured, no token, a wrong, malformed or expired one) is an anonymous
shopper: no personal picks, no order details without the order's e-mail or postcode. The
metadata is whatever a client sent, so nothing in it may make ``verify`` raise.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

CUSTOMER_ID = "customer_id"
CUSTOMER_TOKEN = "customer_token"
# Metadata keys that only this module may interpret; they never reach actions or the log as sent.
IDENTITY_KEYS = frozenset({CUSTOMER_ID, CUSTOMER_TOKEN})
MAX_ID_CHARS = 64
MAX_TOKEN_CHARS = 4096
DEFAULT_MAX_AGE_S = 86400.0
# How far ahead of this server's clock the shop's may be when it signs.
CLOCK_SKEW_S = 300.0

_HEX_MAC = re.compile(r"[0-9a-fA-F]{64}")
_TIMED = re.compile(r"([0-9]{1,12})\.([0-9a-fA-F]{64})")
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


def sign(secret: bytes, customer_id: str, now: float | None = None) -> str:
    """The timestamped token of ``customer_id``: ``<ts>.<hex HMAC-SHA256(secret, "<id>.<ts>")>``."""
    ts = str(int(now if now is not None else time.time()))
    return f"{ts}.{_mac(secret, f'{customer_id}.{ts}')}"


def sign_untimed(secret: bytes, customer_id: str) -> str:
    """The old token without a time, ``hex(HMAC-SHA256(secret, customer_id))`` (never expires)."""
    return _mac(secret, customer_id)


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

    def __init__(
        self,
        secret: bytes | None,
        *,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        accept_untimed: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret or None
        self.max_age_s = max_age_s
        self.accept_untimed = accept_untimed
        self._clock = clock

    @property
    def enabled(self) -> bool:
        """Whether a secret is configured (without one, nobody is verified)."""
        return self._secret is not None

    def verify(self, metadata: Mapping[str, Any]) -> str | None:
        """The customer id the shop signed, or None; never raises, whatever the metadata holds."""
        token = metadata.get(CUSTOMER_TOKEN)
        # Every token form is ASCII; anything else (lone surrogates included) is no token at all.
        if self._secret is None or not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS \
                or not token.isascii():
            return None
        try:
            if token.count(".") == 2:
                return self._jwt(self._secret, token)
            return self._hmac(self._secret, token, metadata.get(CUSTOMER_ID))
        except (ValueError, TypeError, RecursionError):  # malformed input: an anonymous shopper
            return None

    def reference(self, customer_id: str) -> str:
        """The keyed reference of a customer this verifier verified (see :func:`reference`)."""
        if self._secret is None:
            raise ValueError("no identity secret: nobody is verified")
        return reference(self._secret, customer_id)

    def _hmac(self, secret: bytes, token: str, claimed: Any) -> str | None:
        customer = _customer_id(claimed)
        if customer is None:
            return None
        if timed := _TIMED.fullmatch(token):
            ts, mac = timed.groups()
            # Signed no longer than max_age_s ago, and no later than the shop's clock allows.
            now = self._clock()
            if not now - self.max_age_s <= int(ts) <= now + CLOCK_SKEW_S:
                return None
            return customer if hmac.compare_digest(_mac(secret, f"{customer}.{ts}"), mac.lower()) else None
        if self.accept_untimed and _HEX_MAC.fullmatch(token):
            return customer if hmac.compare_digest(_mac(secret, customer), token.lower()) else None
        return None

    def _jwt(self, secret: bytes, token: str) -> str | None:
        claims = jwt_claims(secret, token, now=self._clock(), max_age_s=self.max_age_s)
        return None if claims is None else _customer_id(claims.get("sub"), numbers=False)


def jwt_claims(secret: bytes, token: str, *, now: float, max_age_s: float) -> dict[str, Any] | None:
    """The claims of an HS256 JWT signed with ``secret`` and good at ``now``, else None.

    ``exp`` is required and may lie at most ``max_age_s`` ahead: a token meant to live for ever
    is a password. ``nbf``, when present, must have come. Never raises, whatever ``token`` holds.
    """
    if not 0 < len(token) <= MAX_TOKEN_CHARS or not token.isascii() or token.count(".") != 2:
        return None
    try:
        header, payload, signature = token.split(".")
        if not all(_B64URL.fullmatch(part) for part in (header, payload, signature)):
            return None
        expected = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature)):
            return None
        head, claims = json.loads(_unb64(header)), json.loads(_unb64(payload))
    except (ValueError, TypeError, RecursionError):  # malformed: no claims
        return None
    if not isinstance(head, dict) or head.get("alg") != "HS256" or not isinstance(claims, dict):
        return None
    expires, not_before = _instant(claims.get("exp")), _instant(claims.get("nbf", now))
    if expires is None or expires <= now or expires > now + max_age_s + CLOCK_SKEW_S:
        return None
    if not_before is None or not not_before <= now + CLOCK_SKEW_S:
        return None
    return claims


def _instant(value: Any) -> int | float | None:
    """A JWT time claim as a number, or None. Python compares a huge int with a float exactly, so
    no claim can overflow a float here."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if isinstance(value, float) and not math.isfinite(value) else value


def reference(secret: bytes, customer_id: str) -> str:
    """A keyed, one-way reference to a verified customer: the turn log keeps it to know whose a
    conversation is (bot/channels/binding.py) without keeping the id itself."""
    message = b"conversation owner\0" + customer_id.encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def without_identity(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """``metadata`` without the identity claims (what may be logged or passed on as is)."""
    return {k: v for k, v in metadata.items() if k not in IDENTITY_KEYS}


def _customer_id(claimed: Any, numbers: bool = True) -> str | None:
    """A claimed id as text when it can be one: 1-64 printable characters (no controls, no lone
    surrogates, which no database or log would take), or a whole number."""
    if numbers and isinstance(claimed, int) and not isinstance(claimed, bool):
        claimed = str(claimed)
    if not isinstance(claimed, str) or not 0 < len(claimed) <= MAX_ID_CHARS or not claimed.isprintable():
        return None
    return claimed


def _mac(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode("utf-8"), hashlib.sha256).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    # binascii.Error, raised for bad padding, is a ValueError.
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
