"""Conversations bound to whoever started them: a sender id alone reads nothing.

A conversation's id is often guessable (Rasa clients use an e-mail address or a user id as the
sender), so knowing it must not be enough to read the transcript, join it live or continue it
with its personal context. The server issues each conversation a secret, its *conversation
token*, ``HMAC(key, conversation id)``: stateless, so every worker sharing the key checks it.
It is handed out only to whoever may have it (:meth:`ConversationBinding.grant`):

* the holder of the token itself;
* a shopper verified by the shop (bot/engine/identity.py) who has spoken in the conversation
  as that customer (the turn log keeps a keyed reference of the customer, never the id);
* anyone, while the conversation has no turns yet: the first to use an id owns it.

Anyone else is refused, and the channel decides how (docs/privacy.md, conversation binding).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from aiohttp import ChainMapProxy

from bot.channels.ids import ConversationIds
from bot.serving.engine import PIPELINE
from bot.serving.turnlog import SINK, TRANSCRIPTS
from core.turns import TurnRecord

# The REST channel's request and response header carrying the token.
TOKEN_HEADER = "X-Shopbot-Conversation-Token"
# Where the turn log keeps the keyed reference of a verified customer (bot/engine/pipeline.py).
CUSTOMER_REF = "customer_ref"
# The binding key is derived from the pseudonym key, so a deployment has one secret to share
# between its workers; the label keeps the two uses apart.
_LABEL = b"shopbot conversation binding v1"
_TOKEN_CHARS = 43  # 256 bits in unpadded base64url
# How far back a verified customer's turns are looked for (the widget's history is as long).
RECENT_TURNS = 200


class Grant(StrEnum):
    """Why a request may use a conversation, or that it may not."""

    HOLDER = "holder"  # it presented the conversation's token
    OWNER = "owner"  # a verified customer who has spoken in it
    NEW = "new"  # nobody has spoken in it yet
    DENIED = "denied"

    @property
    def allowed(self) -> bool:
        """Whether the request may read, join and continue the conversation."""
        return self is not Grant.DENIED


class ConversationBinding:
    """Issues and checks conversation tokens (no state: any worker with the key agrees)."""

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("the conversation binding needs a key")
        self._key = hmac.new(key, _LABEL, hashlib.sha256).digest()

    @classmethod
    def of(cls, ids: ConversationIds) -> ConversationBinding:
        """The binding keyed from the pseudonym key ``ids`` uses (shared by every worker alike)."""
        return cls(ids._key)  # noqa: SLF001 - the one key both derive from

    def token(self, conversation_id: str) -> str:
        """The token of a stored conversation id; give it only to whom :meth:`grant` allows."""
        mac = hmac.new(self._key, conversation_id.encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode("ascii")[:_TOKEN_CHARS]

    def holds(self, conversation_id: str, token: object) -> bool:
        """Whether ``token`` is the conversation's token (constant time)."""
        if not isinstance(token, str) or len(token) != _TOKEN_CHARS:
            return False
        return hmac.compare_digest(self.token(conversation_id), token)

    @staticmethod
    def grant(turns: Sequence[TurnRecord], customer_ref: str | None) -> Grant:
        """Whether someone without the token may have the conversation, given its logged turns.

        ``customer_ref`` is the requester's verified customer reference, None when anonymous.
        """
        if not turns:
            return Grant.NEW
        if customer_ref is not None and any(t.metadata.get(CUSTOMER_REF) == customer_ref for t in turns):
            return Grant.OWNER
        return Grant.DENIED


async def access(app: ChainMapProxy, binding: ConversationBinding, conversation_id: str, token: object,
                 metadata: Mapping[str, Any]) -> Grant:
    """Whether this request may use ``conversation_id``: its token, else what its turns say.

    ``app`` is the request's ``config_dict``; ``metadata`` the message's (a verified customer's
    claim is read from it, as the turn engine reads it).
    """
    if binding.holds(conversation_id, token):
        return Grant.HOLDER
    sink = app[SINK]
    await sink.flushed()  # a turn just answered counts
    transcripts = app[TRANSCRIPTS]
    turns = await asyncio.to_thread(transcripts.conversation, conversation_id, RECENT_TURNS)
    identity = app[PIPELINE].identity
    customer = identity.verify(metadata)
    # Keyed as the turn log keeps it (bot/engine/identity.py reference).
    ref = identity.reference(customer) if customer is not None else None
    return binding.grant([t.record for t in turns], ref)
