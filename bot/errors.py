"""The one error hierarchy; ``bot.middleware`` maps it to HTTP responses."""

from __future__ import annotations


class ShopbotError(Exception):
    """Base of every error Shopbot raises on purpose."""

    status = 500
    code = "internal_error"

    @property
    def headers(self) -> dict[str, str]:
        """Extra response headers the error calls for (none by default)."""
        return {}


class BadRequest(ShopbotError):
    """The client sent something we cannot accept."""

    status = 400
    code = "bad_request"


class PayloadTooLarge(BadRequest):
    """Body or message over the configured limit."""

    status = 413
    code = "payload_too_large"


class RetrievalError(ShopbotError):
    """Embedding or index search failed."""

    code = "retrieval_error"


class GenerationError(ShopbotError):
    """The generator failed or ran out of time."""

    code = "generation_error"


class ActionRejected(ShopbotError):
    """A rasa-sdk action refused to run or its server failed."""

    code = "action_rejected"


class NotReady(ShopbotError):
    """A required artefact (index, model, shop data) has not been built yet."""

    status = 503
    code = "not_ready"


class Unauthorized(ShopbotError):
    """No valid session, or wrong credentials at login."""

    status = 401
    code = "unauthorized"


class Forbidden(ShopbotError):
    """Signed in, but this account's role may not do that."""

    status = 403
    code = "forbidden"


class Conflict(BadRequest):
    """The request clashes with what exists already (a taken username, say)."""

    status = 409
    code = "conflict"


class TooManyRequests(ShopbotError):
    """Rate limit hit; ``retry_after`` says in how many whole seconds to try again."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        """``Retry-After`` in whole seconds."""
        return {"Retry-After": str(self.retry_after)}


class NotFound(ShopbotError):
    """The requested resource (a turn, say) does not exist."""

    status = 404
    code = "not_found"
