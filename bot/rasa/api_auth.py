"""Who may use Rasa's HTTP API: Rasa's ``--auth-token`` and its JWTs, and nobody by default.

As Rasa's server decides it, in this order:

* ``?token=<token>`` equal to the configured token: every path;
* ``Authorization: Bearer <JWT>``, HS256 signed with the configured secret, with Rasa's payload
  ``{"user": {"username", "role"}}``: role ``admin`` every path; role ``user`` only the paths of
  the conversation whose id is its ``username``; anything else is refused (403, ``NotAuthorized``);
* neither: 401 (``NotAuthenticated``).

Unlike Rasa, configuring neither a token nor a JWT secret closes the API (403) instead of opening
it. A JWT must carry an ``exp`` at most ``max_age_s`` ahead (``bot/engine/identity.py:
jwt_claims``, the shop's own JWT rules): a token that never expires is a password. Secrets are
compared in constant time.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.engine.identity import DEFAULT_MAX_AGE_S, MAX_TOKEN_CHARS, jwt_claims
from core.errors import Forbidden, Unauthorized

ADMIN = "admin"
USER = "user"
BEARER = "bearer "


@dataclass(frozen=True)
class Caller:
    """Who a request was let in as: ``how`` is ``token`` or ``jwt``; a JWT's user and role."""

    how: str
    username: str | None = None
    role: str | None = None


class ApiAuth:
    """Checks a request's token or JWT against a path (and the conversation it names, if any)."""

    def __init__(
        self,
        token: bytes | None,
        jwt_secret: bytes | None,
        *,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._token = token or None
        self._secret = jwt_secret or None
        self.max_age_s = max_age_s
        self._clock = clock

    @property
    def enabled(self) -> bool:
        """Whether anything can let a caller in (a token or a JWT secret is configured)."""
        return self._token is not None or self._secret is not None

    def check(self, query_token: str | None, authorization: str | None,
              conversation_id: str | None = None) -> Caller:
        """The caller, or ``Unauthorized`` (no valid credential) / ``Forbidden`` (not this path).

        ``conversation_id`` is the conversation the path names, as the client gave it.
        """
        if not self.enabled:
            raise Forbidden("Rasa's HTTP API is closed: the server has no API token and no JWT secret "
                            "configured (SHOPBOT_RASA_API_TOKEN_ENV, SHOPBOT_RASA_API_JWT_SECRET_ENV)")
        if self._token is not None and query_token is not None and _same(query_token, self._token):
            return Caller("token")
        claims = self._claims(authorization)
        if claims is not None:
            caller = _user_of(claims)
            if caller.role == ADMIN:
                return caller
            if caller.role == USER and conversation_id is not None and caller.username is not None and \
                    _same(caller.username, conversation_id.encode("utf-8", "surrogatepass")):
                return caller
            raise Forbidden("User has insufficient permissions.")
        raise Unauthorized("User is not authenticated.")

    def _claims(self, authorization: str | None) -> Mapping[str, Any] | None:
        if self._secret is None or authorization is None or not authorization.lower().startswith(BEARER):
            return None
        token = authorization[len(BEARER):].strip()
        if len(token) > MAX_TOKEN_CHARS:
            return None
        return jwt_claims(self._secret, token, now=self._clock(), max_age_s=self.max_age_s)


def _user_of(claims: Mapping[str, Any]) -> Caller:
    """Rasa's ``{"user": {"username", "role"}}``; anything else is a caller without a role."""
    user = claims.get("user")
    if not isinstance(user, dict):
        return Caller("jwt")
    username, role = user.get("username"), user.get("role")
    return Caller("jwt", username if isinstance(username, str) else None,
                  role if isinstance(role, str) else None)


def _same(given: str, expected: bytes) -> bool:
    """Constant-time equality of a client's text with a secret (or an id) as bytes."""
    try:
        return hmac.compare_digest(given.encode("utf-8"), expected)
    except UnicodeEncodeError:  # a lone surrogate: nothing configured can equal it
        return False


__all__ = ["ADMIN", "USER", "ApiAuth", "Caller"]
