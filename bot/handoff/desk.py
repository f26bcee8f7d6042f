"""The handoff desk: escalates conversations, relays messages both ways and logs every one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Literal, Protocol, TypeVar

from bot.handoff.active import ActiveHandoffs
from bot.handoff.escalation import EscalationPolicy, Reason
from bot.handoff.live import LiveHub
from bot.handoff.sentiment import Sentiment, SentimentScorer
from bot.handoff.store import Handoff, HandoffStatus, HandoffStore
from core.errors import BadRequest, Conflict, Forbidden, Unavailable
from core.messages import BotMessage
from core.ratelog import RateLimitedLog
from core.turns import Route, TurnRecord
from monitoring.flags import TurnFacts
from monitoring.records import RecordFactory
from monitoring.sink import TurnLogSink

log = logging.getLogger(__name__)
# Refreshed every few seconds: a database outage says so once per 30 s, with a count.
_outage_log = RateLimitedLog(log, 30.0)
T = TypeVar("T")
Sender = Literal["bot", "staff"]
# Told of every queue change with the event kind, the handoff and the counts per state.
ChangeListener = Callable[[str, "Handoff", dict[str, int]], None]


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
        records: RecordFactory,
        *,
        policy: EscalationPolicy,
        sentiment: SentimentScorer,
        active: ActiveHandoffs,
        push: ShopperPush | None = None,
        on_change: ChangeListener | None = None,
        resync_s: float = 10.0,
    ) -> None:
        self.store = store
        self.hub = hub
        self.sink = sink
        self.records = records
        self.policy = policy
        self.sentiment_scorer = sentiment
        # The channel that reaches a connected shopper at once (socket.io); None: REST only.
        self.push = push
        self.on_change = on_change
        # Read on every turn: kept in memory (see bot/handoff/active.py), never a database call.
        self._active = active
        self.resync_s = resync_s
        self._resync: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="handoff")

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def start(self) -> None:
        """Load the sentiment lexicon and the active handoffs; keep the latter fresh."""
        await self._call(self.sentiment_scorer.warm_up)
        await self.resync()
        self._resync = asyncio.create_task(self._resync_loop(), name="handoff-resync")

    async def resync(self) -> None:
        """Re-read the active handoffs from the database (the last known state if it is away)."""
        read_at = time.monotonic()
        try:
            current = await self._call(self.store.active_all)
        except Unavailable as err:
            _outage_log.warning("refresh", "handoff queue not refreshed: %s", err)
            return
        self._active.replace(current, read_at)

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.resync_s)
            await self.resync()

    async def close(self) -> None:
        """Stop refreshing, close console connections and stop the desk's thread."""
        if self._resync is not None:
            self._resync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resync
        await self.hub.close()
        self._executor.shutdown(wait=True)

    async def sentiment(self, text: str) -> Sentiment:
        """Sentiment of a shopper message (off the event loop)."""
        return await self._call(self.sentiment_scorer.run, text)

    def active(self, conversation_id: str) -> Handoff | None:
        """The conversation's pending or assigned handoff (from memory: no database call)."""
        return self._active.get(conversation_id)

    async def escalate(self, conversation_id: str, reason: Reason, last_message: str) -> tuple[Handoff, int]:
        """Open (or find) the conversation's handoff; returns it with its queue position."""
        handoff, new = await self._call(self.store.open, conversation_id, str(reason), last_message)
        self._active.apply(handoff)
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
        try:
            await self._call(self.store.touch, handoff.id, record.user_text)
        except Unavailable as err:
            # The message itself is journalled with the turn; only the queue's preview is stale.
            log.warning("handoff %s not touched: %s", handoff.id, err)
        await self.hub.broadcast({"type": "message", "conversation_id": handoff.conversation_id,
                                  "handoff_id": handoff.id, "sender": "shopper",
                                  "turn": record.to_json()})

    async def claim(self, handoff_id: str, username: str) -> Handoff:
        """Assign the handoff to ``username`` and tell the shopper a person has joined."""
        handoff = await self._call(self.store.claim, handoff_id, username)
        self._active.apply(handoff)
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

    async def resolve(self, handoff_id: str, username: str, is_admin: bool = False) -> Handoff:
        """Hand the conversation back to the bot: its assignee (or an admin) may, or anyone while pending."""
        handoff = await self._call(self.store.resolve, handoff_id, username, is_admin)
        self._active.apply(handoff)
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
        # The record's redaction may run the name model: off the event loop.
        record = await asyncio.to_thread(partial(
            self.records.turn,
            conversation_id=handoff.conversation_id,
            channel="staff" if sender == "staff" else "handoff",
            user_text="",
            facts=TurnFacts(Route.HUMAN),
            messages=(message,),
            sender=sender,
            metadata={"sender": sender, "staff": by, "handoff_id": handoff.id, "event": event},
        ))
        # Journalled first: a message the shopper has seen is never missing from the log.
        await self.sink.submit(record)
        if self.push is not None:
            await self.push.send(handoff.conversation_id, [message], sender=sender)
        await self.hub.broadcast({"type": "message", "conversation_id": handoff.conversation_id,
                                  "handoff_id": handoff.id, "sender": sender, "staff": by,
                                  "turn": record.to_json()})
        return record

    async def _event(self, kind: str, handoff: Handoff, **extra: Any) -> None:
        await self.hub.broadcast({"type": kind, "handoff": handoff.to_json(), **extra})
        if self.on_change is not None:
            try:
                counts = await self.counts()
            except Unavailable:
                return  # the gauges catch up at the next change
            self.on_change(kind, handoff, counts)
