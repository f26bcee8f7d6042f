"""Rasa's socket.io channel (as rasa-webchat speaks it) on the aiohttp server, plus pushes.

Wire protocol, compatible with Rasa's ``SocketIOInput`` with ``session_persistence: true``:

* ``session_request`` ``{"session_id"?, "conversation_token"?, "customData"?}`` → the socket
  joins the room of that session and gets ``session_token`` ``{"session_id",
  "conversation_token"}`` (Shopbot's) and then ``session_confirm`` with the session id. A
  conversation is bound to whoever started it (bot/channels/binding.py): a ``session_id`` naming
  a conversation that has turns is granted only with its ``conversation_token`` or to the
  verified customer (``customData``) who spoke in it; anyone else is confirmed a new uuid, as is
  a request without a ``session_id``. rasa-webchat uses whatever id ``session_confirm`` names.
* ``user_uttered`` ``{"message", "session_id", "customData"?}`` → one ``bot_uttered`` per bot
  message, to every socket of the session, in Rasa's shapes (``text``, ``quick_replies``,
  ``attachment``). Shopbot's extras (``turn_id``, ``sender``) travel in the message's
  ``metadata``, which rasa-webchat strips before it picks a renderer. The acknowledgement,
  ``{"ok": true, "turn_id", "count"}`` (``count`` ``bot_uttered`` events were sent), tells a
  client the turn is over even when the bot stays silent (a person has taken over). A
  ``session_id`` other than the one this socket was confirmed is granted as ``session_request``
  grants it, else refused (``forbidden``).
* Bad input → an ``error`` event ``{"code", "message"}`` (and the same in the acknowledgement).
  Events a client may not send (socket.io's reserved names such as ``connect``, packets that are
  no event) are refused the same way; malformed frames are dropped and logged once a minute per
  cause, with a count, never a traceback each.

Shopbot's own events: ``history_request`` → ``history`` (the transcript from the turn log),
``user_typing`` ``{"typing": bool}`` from the shopper, ``typing`` ``{"typing": bool}`` to the
shopper while a staff member writes.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Sequence
from typing import Any, Literal

import socketio
from aiohttp import ChainMapProxy, web

from bot.channels.binding import ConversationBinding, Grant, access
from bot.channels.frames import GuardedServer
from bot.channels.ids import ConversationIds
from bot.channels.inbound import clean_message, clean_metadata
from bot.engine.interfaces import TurnInput, TurnResult
from bot.serving.desk import DESK
from bot.serving.engine import PIPELINE
from bot.serving.turnlog import SINK, TRANSCRIPTS
from bot.web.body import REFUSED_EVENT, SafeJson
from bot.web.kernel import shared
from bot.web.keys import CLIENT_IP
from core.errors import BadRequest, Forbidden, ShopbotError, Unavailable
from core.messages import BotMessage
from core.ratelog import RateLimitedLog
from core.shop import money
from monitoring.transcripts import TranscriptTurn

log = logging.getLogger(__name__)
# The turn log away, every reconnect without a token would say it: one line per minute.
_unresumed = RateLimitedLog(log, 60.0)

CHANNEL = "socketio"
SOCKETIO_PATH = "/socket.io/"
HISTORY_MAX_TURNS = 200
SESSION_ID = re.compile(r"[\w.:@-]{1,128}")
# A flood of malformed frames is one log line per cause per interval.
REFUSED_LOG_INTERVAL_S = 60.0

Sender = Literal["bot", "staff"]


# ---------------------------------------------------------------- rendering


def to_socketio(
    message: BotMessage, *, turn_id: str | None = None, sender: Sender = "bot"
) -> list[dict[str, Any]]:
    """One bot message in the shapes of Rasa's ``SocketIOOutput`` (one or two payloads)."""
    out: list[dict[str, Any]] = []
    if message.text is not None or message.buttons:
        payload: dict[str, Any] = {"text": message.text or ""}
        if message.buttons:
            payload["quick_replies"] = [
                {"content_type": "text", "title": b.title, "payload": b.payload} for b in message.buttons
            ]
        out.append(payload)
    if message.custom is not None:
        out.append(_custom_payload(message.custom))
    meta: dict[str, Any] = {"sender": sender}
    if turn_id:
        meta["turn_id"] = turn_id
    return [{**p, "metadata": dict(meta)} for p in out]


def _custom_payload(custom: dict[str, Any]) -> dict[str, Any]:
    """Product cards become a generic template (a carousel); anything else stays custom JSON."""
    if custom.get("type") == "products" and isinstance(custom.get("products"), list):
        elements = [_element(p) for p in custom["products"] if isinstance(p, dict)]
        payload = {"template_type": "generic", "elements": elements}
        return {"attachment": {"type": "template", "payload": payload}}
    if custom.get("type") == "image" and isinstance(custom.get("src"), str):
        return {"attachment": {"type": "image", "payload": {"src": custom["src"]}}}
    return {"custom": custom}


def _element(card: dict[str, Any]) -> dict[str, Any]:
    # rasa-webchat's carousel reads title/subtitle/image_url/buttons; the card's own fields ride
    # along. The product's page is a web_url button, as in Messenger's generic template.
    price = card.get("price")
    currency = card.get("currency")
    code = currency if isinstance(currency, str) else None
    shown = money(price, code) if isinstance(price, int | float) else ""
    parts = (shown, str(card.get("category") or ""))
    subtitle = " · ".join(p for p in parts if p)
    element = {**card, "title": str(card.get("name") or ""), "subtitle": subtitle, "buttons": []}
    if card.get("image"):
        element["image_url"] = card["image"]
    if card.get("url"):
        element["buttons"] = [{"type": "web_url", "url": card["url"], "title": "View product"}]
    return element


# Turns no shopper typed: Rasa's reminders and its HTTP API's trigger_intent / messages.
EXTERNAL_CHANNELS = frozenset({"reminder", "rasa_api"})


def history_entries(turns: Sequence[TranscriptTurn]) -> list[dict[str, Any]]:
    """The conversation as the widget shows it: user entries and bot/staff entries, in order.

    A turn without user text holds messages only (e.g. a staff reply).
    """
    entries: list[dict[str, Any]] = []
    titles: dict[str, str] = {}  # a button's payload is logged; show its title as the shopper saw it
    for turn in turns:
        record = turn.record
        # A fired reminder's or an outside system's intent is no message the shopper typed.
        if record.user_text and record.channel not in EXTERNAL_CHANNELS:
            text = titles.get(record.user_text, record.user_text)
            entries.append({"kind": "user", "text": text, "turn_id": record.turn_id})
        sender: Sender = "staff" if turn.sender == "staff" else "bot"
        payloads: list[dict[str, Any]] = []
        for r in record.response:
            if not isinstance(r, dict):
                continue
            m = BotMessage.from_rasa(r)
            titles.update({b.payload: b.title for b in m.buttons})
            payloads += [_strip(p) for p in to_socketio(m, sender=sender)]
            payloads += _media(r)
        if payloads:
            entries.append(
                {
                    "kind": "bot",
                    "sender": sender,
                    "turn_id": "" if sender == "staff" else record.turn_id,
                    "messages": payloads,
                    "feedback": {1: "up", -1: "down"}.get(turn.feedback or 0, ""),
                }
            )
    return entries


def _media(logged: dict[str, Any]) -> list[dict[str, Any]]:
    """A logged REST image (``"image": url``) or attachment, in its socket.io form."""
    if isinstance(logged.get("image"), str):
        return [_custom_payload({"type": "image", "src": logged["image"]})]
    if isinstance(logged.get("attachment"), dict):
        return [{"attachment": logged["attachment"]}]
    return []


def _strip(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != "metadata"}


# ------------------------------------------------------------------- input


def _one_arg(args: tuple[Any, ...]) -> Any:
    if len(args) != 1:
        raise BadRequest("send exactly one JSON object with the event")
    return args[0]


def session_id_of(data: Any, *, required: bool) -> str | None:
    """The ``session_id`` of an event's data; ``None`` when absent and not ``required``."""
    value = data.get("session_id") if isinstance(data, dict) else None
    if value is None or value == "":
        if required:
            raise BadRequest("session_id is missing: emit session_request first")
        return None
    if not isinstance(value, str) or not SESSION_ID.fullmatch(value):
        raise BadRequest("session_id must be 1-128 letters, digits or . _ : @ -")
    return value


def token_of(data: Any) -> object:
    """The ``conversation_token`` an event carries (checked by the binding), else None."""
    return data.get("conversation_token") if isinstance(data, dict) else None


def metadata_of(data: dict[str, Any]) -> dict[str, Any]:
    """``customData`` (rasa-webchat) or ``metadata`` (Rasa's own key): an object, size-limited."""
    value = data.get("customData", data.get("metadata"))
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest("customData must be a JSON object")
    try:
        return clean_metadata(value)
    except BadRequest as err:
        raise BadRequest(str(err).replace("metadata", "customData")) from err


def message_of(data: Any, max_chars: int) -> str | None:
    """The shopper's text, validated like the REST channel's.

    None for rasa-webchat's connect-time init event, which carries no ``message`` key at all
    when the page sets no init payload: there is nothing to answer.
    """
    if not isinstance(data, dict):
        raise BadRequest("user_uttered needs a JSON object with a message")
    if "message" not in data:
        return None
    text = data.get("message")
    if not isinstance(text, str):
        raise BadRequest("message must be a string")
    return clean_message(text, max_chars)


def _error(err: ShopbotError) -> dict[str, Any]:
    return {"code": err.code, "message": str(err)}


# ----------------------------------------------------------------- channel


class SocketIOChannel:
    """Socket.IO input and output channel: shopper turns in, bot and staff messages out."""

    def __init__(
        self,
        ids: ConversationIds,
        binding: ConversationBinding | None = None,
        *,
        max_message_chars: int,
        max_body_bytes: int,
        redis_url: str = "",
        cors_allowed_origins: str | list[str] = "*",
    ) -> None:
        self.ids = ids
        # Keyed like the pseudonyms unless given its own (bot/channels/binding.py).
        self.binding = binding or ConversationBinding.of(ids)
        self.max_message_chars = max_message_chars
        # The widget is embedded on any shop page and sends no cookies, so any origin may connect.
        self.sio = GuardedServer(
            RateLimitedLog(log, REFUSED_LOG_INTERVAL_S),
            async_mode="aiohttp",
            cors_allowed_origins=cors_allowed_origins,
            cors_credentials=False,
            max_http_buffer_size=max_body_bytes,
            # With several workers, an emit to a session's room reaches whichever worker holds it.
            client_manager=socketio.AsyncRedisManager(redis_url) if redis_url else None,
            # Hostile packets (deep nesting, huge numbers) are refused, never a crash.
            json=SafeJson,
            # The session id in the handshake response, for a load balancer to learn which worker
            # holds a long-polling session (deploy/haproxy/haproxy.cfg). It is random and says
            # nothing about the shopper; the browser does not need to send it back.
            cookie={"name": "io", "path": SOCKETIO_PATH, "SameSite": "Lax", "HttpOnly": True},
        )
        self._app: web.Application | None = None
        # Socket id → (the session id the client uses, the conversation id Shopbot keeps).
        self._sessions: dict[str, tuple[str, str]] = {}
        self._clients: dict[str, str] = {}  # socket id → client address
        self._register()

    def attach(self, app: web.Application) -> None:
        """Serve the engine.io endpoint at the root of ``app`` (the channels' ``/socket.io`` sub-app).

        Turns, transcripts and the desk are read from ``app`` and the application it is mounted
        on once they are running; sockets close on shutdown.
        """
        self._app = app
        # engine.io's own attach() wants a path segment; the sub-app's prefix is that segment.
        for method in ("GET", "POST", "OPTIONS"):
            app.router.add_route(method, "/", self.sio.handle_request)
        app.on_shutdown.append(self._shutdown)

    async def send(
        self, conversation_id: str, messages: Sequence[BotMessage], *, sender: Sender = "bot"
    ) -> None:
        """Push messages to every socket of a conversation now (staff replies, late answers)."""
        for message in messages:
            for payload in to_socketio(message, sender=sender):
                await self.sio.emit("bot_uttered", payload, room=conversation_id)

    async def typing(self, conversation_id: str, on: bool) -> None:
        """Show or hide the typing indicator in the shopper's widget."""
        await self.sio.emit("typing", {"typing": bool(on)}, room=conversation_id)

    def connected(self, conversation_id: str) -> bool:
        """Whether any socket has this conversation open right now."""
        return any(conversation == conversation_id for _, conversation in self._sessions.values())

    # ------------------------------------------------------------ handlers

    def _register(self) -> None:
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("session_request", self._on_session_request)
        self.sio.on("user_uttered", self._on_user_uttered)
        self.sio.on("history_request", self._on_history_request)
        self.sio.on("user_typing", self._on_user_typing)
        self.sio.on(REFUSED_EVENT, self._on_refused)

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        request = environ.get("aiohttp.request")
        if isinstance(request, web.Request):
            self._clients[sid] = self._application[CLIENT_IP](request)
        return True

    async def _on_disconnect(self, sid: str, *reason: Any) -> None:
        self._clients.pop(sid, None)
        held = self._sessions.pop(sid, None)
        if held is not None and not self.connected(held[1]):
            await self._typing_changed(held[1], False)

    async def _on_session_request(self, sid: str, *args: Any) -> str | dict[str, Any]:
        try:
            data = args[0] if args else None
            asked = session_id_of(data, required=False)
            metadata = metadata_of(data) if isinstance(data, dict) else {}
            session = asked or uuid.uuid4().hex
            if asked is not None and not await self._may_resume(asked, data, metadata):
                # Someone else's conversation: this client starts its own (rasa-webchat takes
                # whatever id session_confirm names).
                session = uuid.uuid4().hex
            await self._join(sid, session)
        except ShopbotError as err:
            return await self._fail(sid, err)
        await self._confirm(sid, session)
        return session

    async def _may_resume(self, asked: str, data: Any, metadata: dict[str, Any]) -> bool:
        """Whether ``session_request`` may resume ``asked``; when the turn log cannot say (the
        database away and no token), no: the client starts a conversation of its own."""
        try:
            return (await self._grant(asked, data, metadata)).allowed
        except Unavailable as err:
            # The id is not logged: a Rasa client's sender may be an e-mail address.
            _unresumed.warning("unavailable", "a conversation was not resumed without its token: %s", err)
            return False

    async def _on_user_uttered(self, sid: str, *args: Any) -> dict[str, Any]:
        try:
            data = _one_arg(args)
            text = message_of(data, self.max_message_chars)
            if text is None:
                return {"ok": True, "turn_id": None, "count": 0}
            session = session_id_of(data, required=sid not in self._sessions) or self._sessions[sid][0]
            metadata = metadata_of(data)
            if self._sessions.get(sid, ("",))[0] != session:
                grant = await self._grant(session, data, metadata)
                if not grant.allowed:
                    raise Forbidden("this conversation is not yours: emit session_request to start one")
                await self._join(sid, session)
                if grant is not Grant.HOLDER:
                    await self._issue(sid, session)
            conversation = self._sessions[sid][1]
            turn = TurnInput(conversation, text, CHANNEL, metadata, client=self._clients.get(sid, ""))
        except ShopbotError as err:
            return await self._fail(sid, err)
        try:
            result: TurnResult = await self._application[PIPELINE].run(turn)
        except ShopbotError as err:  # refused as a whole (the journal's disk full): said, not crashed
            return await self._fail(sid, err)
        except Exception:  # noqa: BLE001 - the socket stays up; the shopper gets an error event
            log.exception("socket.io turn failed for %s", conversation)
            return await self._fail(sid, ShopbotError("internal error"))
        payloads = [p for m in result.messages for p in to_socketio(m, turn_id=result.turn_id)]
        for payload in payloads:
            await self.sio.emit("bot_uttered", payload, room=conversation)
        return {"ok": True, "turn_id": result.turn_id, "count": len(payloads)}

    async def _on_history_request(self, sid: str, *args: Any) -> dict[str, Any]:
        held = self._sessions.get(sid)
        if held is None:
            return await self._fail(sid, BadRequest("emit session_request before history_request"))
        session, conversation = held
        try:
            await self._application[SINK].flushed()
            turns = await asyncio.to_thread(self._application[TRANSCRIPTS].conversation, conversation,
                                            HISTORY_MAX_TURNS)
        except ShopbotError as err:
            return await self._fail(sid, err)
        history = {"session_id": session, "entries": history_entries(turns)}
        await self.sio.emit("history", history, to=sid)
        return history

    async def _on_refused(self, sid: str, *args: Any) -> dict[str, Any]:
        reason = args[0] if args and isinstance(args[0], str) else "malformed packet"
        return await self._fail(sid, BadRequest(reason))

    async def _on_user_typing(self, sid: str, *args: Any) -> None:
        data = args[0] if len(args) == 1 else None
        held = self._sessions.get(sid)
        if held is None or not isinstance(data, dict) or not isinstance(data.get("typing"), bool):
            return
        await self._typing_changed(held[1], data["typing"])

    # ------------------------------------------------------------- helpers

    @property
    def _application(self) -> ChainMapProxy:
        if self._app is None:
            raise RuntimeError("SocketIOChannel.attach(app) was not called")
        return shared(self._app)

    async def _grant(self, session: str, data: Any, metadata: dict[str, Any]) -> Grant:
        """Whether this socket may have ``session``: its token, or what the turn log says."""
        conversation = self.ids.internal(session)
        return await access(self._application, self.binding, conversation, token_of(data), metadata)

    async def _issue(self, sid: str, session: str) -> None:
        token = self.binding.token(self.ids.internal(session))
        await self.sio.emit("session_token", {"session_id": session, "conversation_token": token}, to=sid)

    async def _confirm(self, sid: str, session: str) -> None:
        # The token first: a client that keeps it has it before it goes on with the session.
        await self._issue(sid, session)
        await self.sio.emit("session_confirm", session, to=sid)

    async def _join(self, sid: str, session: str) -> None:
        # The room is the stored conversation id: staff pushes are addressed to it.
        conversation = self.ids.internal(session)
        previous = self._sessions.get(sid)
        if previous is not None and previous[1] != conversation:
            await self.sio.leave_room(sid, previous[1])
        try:
            await self.sio.enter_room(sid, conversation)
        except ValueError as err:  # the socket left while its grant was being read
            raise BadRequest("the connection closed before the session was joined") from err
        self._sessions[sid] = (session, conversation)

    async def _typing_changed(self, session: str, typing: bool) -> None:
        desk = self._application.get(DESK)
        if desk is None:
            return
        try:
            await desk.shopper_typing(session, typing)
        except Exception:  # noqa: BLE001 - the console being away must not break the chat
            log.exception("could not tell the consoles about typing")

    async def _fail(self, sid: str, err: ShopbotError) -> dict[str, Any]:
        error = _error(err)
        await self.sio.emit("error", error, to=sid)
        return {"ok": False, "error": error}

    async def _shutdown(self, app: web.Application) -> None:
        # aiohttp waits for open WebSocket handlers on shutdown, and engine.io's only end on a
        # ping timeout (45 s). Telling each client to go (they reconnect to the next server) and
        # ending its writer closes the WebSocket now; engine.io has no public call for that.
        for socket in list(self.sio.eio.sockets.values()):
            await socket.close(wait=False)
            socket.queue.put_nowait(None)
        await self.sio.shutdown()


async def status(request: web.Request) -> web.Response:
    """Channel health, as Rasa's socket.io blueprint answers it."""
    return web.json_response({"status": "ok"})


__all__ = ["SOCKETIO_PATH", "SocketIOChannel", "history_entries", "to_socketio"]
