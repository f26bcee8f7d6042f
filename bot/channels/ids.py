"""Conversation ids as channels receive them (Rasa's ``sender``, a socket.io session id) and as
Shopbot keeps them: an id that carries personal data (an e-mail address, a phone number) is
replaced by a keyed pseudonym before it reaches the memory, the handoff queue or the log."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path

from core.errors import BadRequest
from monitoring.redact import private_id

# Printable text only: NUL and other control characters break databases and logs alike.
_SENDER = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff]{1,128}")


class ConversationIds:
    """Turns a channel's sender id into the conversation id Shopbot stores."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def internal(self, sender: str) -> str:
        """The stored conversation id of ``sender`` (itself, unless it holds personal data)."""
        if not _SENDER.fullmatch(sender) or not sender.strip():
            raise BadRequest("sender must be 1-128 printable characters")
        return private_id(self._key, sender)


def pseudonym_key(secret: bytes | None, var_dir: Path) -> bytes:
    """The configured secret, else a random key kept in ``var_dir/pseudonym.key`` (shared by the
    workers of one machine; several machines should set the env var)."""
    if secret:
        return secret
    path = var_dir / "pseudonym.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return path.read_bytes()
    # Written whole under a private name, then linked in: workers starting together never read
    # a half-written (empty) key, and the first link wins (a link never replaces a file).
    draft = path.with_name(f".pseudonym.key.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another worker's key is already in place
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)
    return path.read_bytes()
