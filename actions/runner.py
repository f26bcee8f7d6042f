"""Run the shop's rasa-sdk actions in-process or on a Rasa action server (webhook protocol)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import aiohttp
import rasa_sdk
from rasa_sdk.executor import ActionExecutor

from actions.services import ShopServices
from actions.shop_actions import shop_actions
from core.errors import ActionRejected, ShopbotError
from core.messages import BotMessage

INTENTS: Final = ("recommend", "recommend_similar", "order_status")

# The slice of the bot's domain the actions rely on; sent with every call.
DOMAIN: Final[dict[str, Any]] = {
    "version": "3.1",
    "intents": [{name: {"use_entities": True}} for name in INTENTS],
    "entities": ["order_number", "email", "postcode"],
    "slots": {
        name: {"type": "text", "influence_conversation": False, "mappings": [{"type": "custom"}]}
        for name in ("last_product", "order_number", "verified_order", "recommend_mode")
    },
    "responses": {},
    "actions": ["action_recommend", "action_order_status"],
    "forms": {},
}


@dataclass(frozen=True)
class ActionOutcome:
    """What an action said (``messages``) and did to the conversation (``events``)."""

    messages: tuple[BotMessage, ...]
    events: tuple[dict[str, Any], ...]

    @classmethod
    def from_webhook(cls, body: object) -> ActionOutcome:
        """Parse ``{"events": [...], "responses": [...]}``; malformed → ``ActionRejected``."""
        if not isinstance(body, Mapping):
            raise ActionRejected("action server answered without a JSON object")
        events, responses = body.get("events") or [], body.get("responses") or []
        if not isinstance(events, list) or not isinstance(responses, list):
            raise ActionRejected("action server answered malformed events or responses")
        return cls(tuple(BotMessage.from_rasa(r) for r in responses),
                   tuple(dict(e) for e in events))


class ActionRunner(Protocol):
    """Runs one custom action against a tracker state."""

    async def run(self, action_name: str, tracker: dict[str, Any],
                  domain: dict[str, Any]) -> ActionOutcome:
        """Run ``action_name``; raises ``ActionRejected`` when it cannot."""
        ...


def tracker_state(sender_id: str, slots: dict[str, Any], text: str, intent: str,
                  entities: list[dict[str, Any]], metadata: dict[str, Any], *,
                  active_loop: str | None = None, validating: Mapping[str, Any] | None = None
                  ) -> dict[str, Any]:
    """A Rasa ``TrackerState`` for one user turn: the slots, then the user's message.

    ``active_loop`` names the active form. ``validating`` holds the slot values a form's
    validation action is asked about: as Rasa calls ``validate_<form>``, they come last, after the
    form's own action, where rasa-sdk's ``Tracker.slots_to_validate`` finds them (``slots`` should
    hold them too).
    """
    now = time.time()
    parse_data = {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0},
        "intent_ranking": [{"name": intent, "confidence": 1.0}],
        "entities": entities,
        "metadata": metadata,
    }
    events: list[dict[str, Any]] = [
        {"event": "slot", "timestamp": now, "name": name, "value": value}
        for name, value in slots.items() if value is not None
    ]
    events += [
        {"event": "action", "timestamp": now, "name": "action_listen"},
        {"event": "user", "timestamp": now, "text": text, "parse_data": parse_data,
         "input_channel": "rest", "metadata": metadata},
    ]
    loop = {"name": active_loop} if active_loop else {}
    latest_action = "action_listen"
    if validating is not None and active_loop:
        latest_action = active_loop
        events.append({"event": "action", "timestamp": now, "name": active_loop})
        events += [{"event": "slot", "timestamp": now, "name": name, "value": value}
                   for name, value in validating.items()]
    return {
        "sender_id": sender_id,
        "slots": dict(slots),
        "latest_message": parse_data,
        "events": events,
        "paused": False,
        "followup_action": None,
        "active_loop": loop,
        "active_form": dict(loop),  # deprecated alias of active_loop, still part of TrackerState
        "latest_action_name": latest_action,
        "stack": [],
        "user_id": None,
    }


def action_call(action_name: str, tracker: dict[str, Any], domain: dict[str, Any]
                ) -> dict[str, Any]:
    """The webhook request body Rasa sends to an action server."""
    return {"next_action": action_name, "sender_id": tracker["sender_id"], "tracker": tracker,
            "domain": domain, "version": rasa_sdk.__version__}


class InProcessActionRunner:
    """Runs the actions through rasa-sdk's ``ActionExecutor`` in this process."""

    def __init__(self, services: ShopServices | Callable[[], ShopServices]) -> None:
        # A loader defers reading the shop (and fitting the recommender) to ``warm_up``.
        self._services = services
        self._executor: ActionExecutor | None = None

    def warm_up(self) -> None:
        """Load the services (when given a loader) and register the actions; idempotent."""
        if self._executor is not None:
            return
        services = self._services if isinstance(self._services, ShopServices) else self._services()
        executor = ActionExecutor()
        for action in shop_actions(services):
            executor.register_action(action)
        self._executor = executor

    async def run(self, action_name: str, tracker: dict[str, Any],
                  domain: dict[str, Any]) -> ActionOutcome:
        """Run ``action_name``; unknown actions and action failures → ``ActionRejected``."""
        self.warm_up()
        assert self._executor is not None
        try:
            result = await self._executor.run(action_call(action_name, tracker, domain))
        except ShopbotError:
            raise
        except Exception as err:
            raise ActionRejected(f"action {action_name!r} failed: {err}") from err
        if result is None:
            raise ActionRejected("no action name given")
        return ActionOutcome.from_webhook(result.model_dump())

    async def close(self) -> None:
        """Nothing to release; present for symmetry with ``HttpActionRunner``."""


async def post_action_call(session: aiohttp.ClientSession, url: str, action_name: str,
                           tracker: dict[str, Any], domain: dict[str, Any], timeout_s: float) -> Any:
    """POST Rasa's action call to an action server; its JSON body, or ``ActionRejected``."""
    try:
        async with session.post(url, json=action_call(action_name, tracker, domain),
                                timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            status, text = response.status, await response.text()
        body = json.loads(text) if text else None
    except (TimeoutError, aiohttp.ClientError, ValueError) as err:
        raise ActionRejected(f"action server call for {action_name!r} failed: "
                             f"{type(err).__name__}: {err}") from err
    if status != 200:
        detail = body.get("error") if isinstance(body, dict) else text[:200]
        raise ActionRejected(f"action server answered {status} for {action_name!r}: {detail}")
    return body


class HttpActionRunner:
    """Calls a Rasa action server (``POST {endpoint}``, e.g. ``http://host:5055/webhook``)."""

    def __init__(self, endpoint: str, timeout_s: float = 10.0,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self._session = session
        self._owns_session = session is None

    def warm_up(self) -> None:
        """Nothing to load: the action server owns the models and data."""

    async def run(self, action_name: str, tracker: dict[str, Any],
                  domain: dict[str, Any]) -> ActionOutcome:
        """POST the webhook call; HTTP errors, timeouts and bad bodies → ``ActionRejected``."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        body = await post_action_call(self._session, self.endpoint, action_name, tracker, domain,
                                      self.timeout_s)
        return ActionOutcome.from_webhook(body)

    async def close(self) -> None:
        """Close the HTTP session if this runner created it."""
        if self._session is not None and self._owns_session:
            await self._session.close()
            self._session = None


def make_runner(
    endpoint: str, timeout_s: float, services: ShopServices | Callable[[], ShopServices]
) -> ActionRunner:
    """HTTP when ``endpoint`` is set, else in-process with ``services`` (or their loader)."""
    if endpoint:
        return HttpActionRunner(endpoint, timeout_s)
    return InProcessActionRunner(services)
