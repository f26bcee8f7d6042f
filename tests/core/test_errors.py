"""An error reported across a process boundary comes back as the same class of the hierarchy."""

from __future__ import annotations

import pytest

from core import errors


@pytest.mark.parametrize("cls", [errors.Conflict, errors.NotFound, errors.NotReady, errors.BadRequest,
                                 errors.PayloadTooLarge, errors.Unavailable, errors.TooManyRequests])
def test_error_for_gives_back_the_class_of_the_code(cls: type[errors.ShopbotError]) -> None:
    err = errors.error_for(cls.code, "the message")
    assert type(err) is cls and str(err) == "the message"


def test_an_unknown_code_is_a_plain_error() -> None:
    err = errors.error_for("made_up", "m")
    assert type(err) is errors.ShopbotError
