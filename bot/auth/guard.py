"""Role requirements declared on handlers; the auth middleware enforces them."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

ROLES_ATTR = "__shopbot_roles__"

H = TypeVar("H", bound=Callable[..., Any])


class Role(StrEnum):
    """What an account may do: staff take over chats, auditors review turns, admins both."""

    STAFF = "staff"
    AUDITOR = "auditor"
    ADMIN = "admin"


def requires(*roles: Role) -> Callable[[H], H]:
    """Mark an ``/api/`` handler as open to ``roles`` only (admin is always added)."""

    def mark(handler: H) -> H:
        setattr(handler, ROLES_ATTR, frozenset(roles) | {Role.ADMIN})
        return handler

    return mark


def required_roles(handler: Any) -> frozenset[Role] | None:
    """The roles a handler was marked with, or None when it was not marked."""
    return getattr(handler, ROLES_ATTR, None)
