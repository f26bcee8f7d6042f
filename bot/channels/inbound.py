"""What every channel checks of a shopper's message before the turn engine sees it."""

from __future__ import annotations

import json
from typing import Any

from core.errors import BadRequest, PayloadTooLarge
from monitoring.redact import scrub

MAX_METADATA_CHARS = 4000


def clean_message(text: str, max_chars: int) -> str:
    """Validate a shopper message: not blank, not over the limit; NUL and lone surrogates go."""
    text = scrub(text.replace("\x00", "")).strip()
    if not text:
        raise BadRequest("message is empty")
    if len(text) > max_chars:
        raise PayloadTooLarge(f"message longer than {max_chars} characters")
    return text


def clean_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """Channel metadata: a JSON object of bounded size (depth and numbers are bounded on parse)."""
    if not metadata:
        return {}
    if len(json.dumps(metadata, ensure_ascii=False)) > MAX_METADATA_CHARS:
        raise BadRequest(f"metadata larger than {MAX_METADATA_CHARS} characters")
    return metadata
