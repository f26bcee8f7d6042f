"""The one error hierarchy. Errors say what went wrong, never how HTTP shows it.

``bot.web.errors`` is the one place that maps these classes to HTTP statuses and headers.
"""

from __future__ import annotations


class ShopbotError(Exception):
    """Base of every error Shopbot raises on purpose; ``code`` is its stable machine name."""

    code = "internal_error"


class BadRequest(ShopbotError):
    """The client sent something we cannot accept."""

    code = "bad_request"


class PayloadTooLarge(BadRequest):
    """Body or message over the configured limit."""

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

    code = "not_ready"


class Unauthorized(ShopbotError):
    """No valid session, or wrong credentials at login."""

    code = "unauthorized"


class Forbidden(ShopbotError):
    """Signed in, but this account's role may not do that."""

    code = "forbidden"


class Conflict(BadRequest):
    """The request clashes with what exists already (a taken username, say)."""

    code = "conflict"


class PersonalData(BadRequest):
    """A text meant for every shopper (a promoted answer) holds somebody's personal data."""

    code = "personal_data"


class TooManyRequests(ShopbotError):
    """Rate limit hit; ``retry_after`` says in how many whole seconds to try again."""

    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(ShopbotError):
    """The requested resource (a turn, say) does not exist."""

    code = "not_found"


class Unavailable(ShopbotError):
    """A backing service (the database, Redis) cannot be reached; ``retry_after`` seconds."""

    code = "unavailable"

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StorageFull(Unavailable):
    """The disk a record must reach first (the turn journal's) is full; ``retry_after`` seconds."""

    code = "storage_full"


def error_for(code: str, message: str) -> ShopbotError:
    """The error of the hierarchy whose ``code`` is ``code``, raised again on this side of a
    process boundary (a model job's answer); a plain ShopbotError when no class has that code.

    Errors that carry a wait (``TooManyRequests``, ``Unavailable``) come back with their default
    wait, since only the code and the message cross the boundary.
    """
    classes: list[type[ShopbotError]] = [ShopbotError]
    while classes:
        cls = classes.pop()
        if cls.code == code:
            return cls(message, 5) if cls is TooManyRequests else cls(message)
        classes.extend(cls.__subclasses__())
    return ShopbotError(message)
