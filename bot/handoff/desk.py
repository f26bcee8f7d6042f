"""The handoff desk: escalates conversations, relays messages both ways and logs every one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar

from bot.dialogue.messages import BotMessage
from bot.errors import BadRequest, Conflict, Forbidden
from bot.handoff.escalation import EscalationPolicy, Reason
from bot.handoff.live import LiveHub
from bot.handoff.sentiment import Sentiment, SentimentScorer
from bot.handoff.store import Handoff, HandoffStatus, HandoffStore
from monitoring.redact import redact
from monitoring.schema import Flag, Route, TurnRecord
from monitoring.sink import TurnLogSink

T = TypeVar("T")
Sender = Literal["bot", "staff"]


class ShopperPush(Protocol):
    """A channel that can reach a connected shopper at any time (the socket.io channel)."""

    async def send(
        self, conversation_id: str, messages: Sequence[BotMessage], *, sender: Sender = "bot"
    ) -> None: ...

    async def typing(self, conversation_id: str, on: bool) -> None: ...


class HandoffDesk:
    """Everything a handoff does; store calls run on the desk's own thread."""

    def __init__(
        self,
        store: HandoffStore,
        hub: LiveHub,
        sink: TurnLogSink,
        *,
        policy: EscalationPolicy,
        sentiment: SentimentScorer,
    ) -> None:
        self.store = store
        self.hub = hub
        self.sink = sink
        self.policy = policy
        self.sentiment_scorer = sentiment
        self.push: ShopperPush | None = None
        # Told of every queue change with the handoff and the counts per state (metrics).
        self.on_change: Callable[[str, Handoff, dict[str, int]], None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="handoff")

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def start(self) -> None:
        """Create the table and load the sentiment lexicon."""
        await self._call(self.store.create)
        await self._call(self.sentiment_scorer.warm_up)

    async def close(self) -> None:
        """Close console connections and the database."""
        await self.hub.close()
        await self._call(self.store.close)
        self._executor.shutdown(wait=True)

    async def sentiment(self, text: str) -> Sentiment:
        """Sentiment of a shopper message (off the event loop)."""
        return await self._call(self.sentiment_scorer.run, text)

    async def active(self, conversation_id: str) -> Handoff | None:
        """The conversation's pending or assigned handoff."""
        return await self._call(self.store.active, conversation_id)

    async def escalate(self, conversation_id: str, reason: Reason, last_message: str) -> tuple[Handoff, int]:
        """Open (or find) the conversation's handoff; returns it with its queue position."""
        handoff, new = await self._call(self.store.open, conversation_id, str(reason), last_message)
        position = await self._call(self.store.position, handoff)
        if new:
            await self._event("handoff_created", handoff, position=position)
        return handoff, position

    async def list(self, status: HandoffStatus | None) -> list[Handoff]:
        """Handoffs of one status (all when None), oldest first."""
        return await self._call(self.store.list, status)

    async def counts(self) -> dict[str, int]:
        """Handoffs per state."""
        return await self._call(self.store.counts)

    async def shopper_message(self, handoff: Handoff, record: TurnRecord) -> None:
        """A shopper wrote while a person has (or awaits) the conversation."""
        await self._call(self.store.touch, handoff.id, record.user_text)
        await self.hub.broadcast({"type": "message", "conversation_id": handoff.conversation_id,
                                  "handoff_id": handoff.id, "sender": "shopper",
                                  "turn": record.to_json()})

    async def claim(self, handoff_id: str, username: str) -> Handoff:
        """Assign the handoff to ``username`` and tell the shopper a person has joined."""
        handoff = await self._call(self.store.claim, handoff_id, username)
        note = BotMessage(text=f"{username} from our customer service team has joined the chat.")
        await self._deliver(handoff, note, sender="staff", by=username, event="claimed")
        await self._event("handoff_updated", handoff)
        return handoff

    async def staff_message(self, handoff_id: str, username: str, is_admin: bool, text: str) -> TurnRecord:
        """Send a staff member's reply to the shopper now, and log it."""
        text = text.strip()
        if not text:
            raise BadRequest("'text' must not be empty")
        handoff = await self._call(self.store.get, handoff_id)
        if handoff.status is not HandoffStatus.ASSIGNED:
            raise Conflict(f"claim handoff {handoff_id} before replying (it is {handoff.status})")
        if handoff.claimed_by != username and not is_admin:
            raise Forbidden(f"handoff {handoff_id} is assigned to {handoff.claimed_by}")
        record = await self._deliver(handoff, BotMessage(text=text), sender="staff", by=username)
        await self._call(self.store.touch, handoff.id, record.response[0].get("text", ""))
        return record

    async def resolve(self, handoff_id: str, username: str) -> Handoff:
        """Hand the conversation back to the bot."""
        handoff = await self._call(self.store.resolve, handoff_id)
        note = BotMessage(text="You're back with the shop assistant. Ask me anything about the shop.")
        await self._deliver(handoff, note, sender="bot", by=username, event="resolved")
        await self._event("handoff_updated", handoff)
        return handoff

    async def staff_typing(self, conversation_id: str, on: bool) -> None:
        """Show or hide the typing indicator in the shopper's widget."""
        if self.push is not None:
            await self.push.typing(conversation_id, on)

    async def shopper_typing(self, conversation_id: str, on: bool) -> None:
        """Tell the consoles the shopper is typing."""
        await self.hub.broadcast({"type": "typing", "conversation_id": conversation_id,
                                  "sender": "shopper", "typing": bool(on)})

    async def _deliver(
        self, handoff: Handoff, message: BotMessage, *, sender: Sender, by: str, event: str = "message"
    ) -> TurnRecord:
        if self.push is not None:
            await self.push.send(handoff.conversation_id, [message], sender=sender)
        record = human_record(handoff, message, sender=sender, staff=by, event=event)
        self.sink.submit(record)
        await self.hub.broadcast({"type": "message", "conversation_id": handoff.conversation_id,
                                  "handoff_id": handoff.id, "sender": sender, "staff": by,
                                  "turn": record.to_json()})
        return record

    async def _event(self, kind: str, handoff: Handoff, **extra: Any) -> None:
        await self.hub.broadcast({"type": kind, "handoff": handoff.to_json(), **extra})
        if self.on_change is not None:
            self.on_change(kind, handoff, await self.counts())


def human_record(handoff: Handoff, message: BotMessage, *, sender: str, staff: str, event: str) -> TurnRecord:
    """The turn-log record of a message sent by a person (or the desk on their behalf)."""
    clean = redact(message.text or "")
    response = {**BotMessage(text=clean.text).to_rest(handoff.conversation_id), "sender": sender}
    return TurnRecord(
        conversation_id=handoff.conversation_id,
        turn_id=uuid.uuid4().hex,
        ts=datetime.now(UTC),
        channel="staff" if sender == "staff" else "handoff",
        user_text="",
        route=Route.HUMAN,
        response=(response,),
        flags=frozenset({Flag.PII_REDACTED}) if clean.changed else frozenset(),
        metadata={"sender": sender, "staff": staff, "handoff_id": handoff.id, "event": event},
    )
