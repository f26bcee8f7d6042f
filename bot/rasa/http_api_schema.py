"""The OpenAPI description of Rasa's HTTP API as Shopbot serves it (``bot/rasa/http_api.py``).

Rasa's own specification (``docs/static/spec/rasa.yml``) rewritten for OpenAPI 3.1, with the
shapes Rasa 3 answers (``model_id``, ``sender_id``, ``active_loop``, ``latest_action``) and the
statuses Shopbot answers: every protected path documents 401 and 403 (the API is closed unless
a token or a JWT secret is configured), 503 (the turn log or Redis away) and, with a body, 413.
Schemas are named ``Rasa*`` so they sit beside the ``/api/`` ones in one document.
"""

from __future__ import annotations

from typing import Any

SECURITY_SCHEMES: dict[str, Any] = {
    "RasaToken": {"type": "apiKey", "in": "query", "name": "token",
                  "description": "The API token (the env var named by SHOPBOT_RASA_API_TOKEN_ENV)."},
    "RasaJWT": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": 'HS256, payload {"user": {"username", "role"}} and an exp; role admin: '
                               "every path, role user: its own conversation (username = conversation_id)."},
}
SECURITY: list[dict[str, list[str]]] = [{"RasaToken": []}, {"RasaJWT": []}]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_NULLABLE_STRING = {"type": ["string", "null"]}
SCHEMAS: dict[str, Any] = {
    "RasaError": {
        "type": "object",
        "required": ["version", "status", "message", "reason", "code"],
        "properties": {
            "version": {"type": "string", "description": "Rasa version whose API this is"},
            "status": {"type": "string", "enum": ["failure"]},
            "message": {"type": "string"},
            "reason": {"type": "string", "description": "Error category, e.g. BadRequest, NotAuthenticated"},
            "details": {"type": "object", "description": 'Shopbot\'s own error code: {"code": ...}'},
            "help": _NULLABLE_STRING,
            "code": {"type": "integer", "description": "HTTP status"},
        },
    },
    "RasaIntent": {
        "type": "object",
        "required": ["name", "confidence"],
        "properties": {"name": {"type": "string"}, "confidence": {"type": "number"}},
    },
    "RasaEntity": {
        "type": "object",
        "required": ["start", "end", "value", "entity"],
        "properties": {
            "start": {"type": "integer"}, "end": {"type": "integer"}, "value": {},
            "entity": {"type": "string"}, "confidence_entity": {"type": "number"},
            "extractor": {"type": "string"}, "role": {"type": "string"}, "group": {"type": "string"},
        },
    },
    "RasaParseResult": {
        "type": "object",
        "required": ["text", "intent", "entities", "intent_ranking"],
        "properties": {
            "text": {"type": "string"},
            "intent": _ref("RasaIntent"),
            "entities": {"type": "array", "items": _ref("RasaEntity")},
            "intent_ranking": {"type": "array", "items": _ref("RasaIntent")},
            "message_id": {"type": "string"},
        },
    },
    "RasaParseRequest": {
        "type": "object",
        "required": ["text"],
        "properties": {"text": {"type": "string", "description": "Message to be parsed"},
                       "message_id": {"type": "string", "maxLength": 128}},
    },
    "RasaMessage": {
        "type": "object",
        "required": ["text", "sender"],
        "properties": {
            "text": {"type": "string"},
            "sender": {"type": "string", "enum": ["user"]},
            "parse_data": {"type": "object", "description": "NLU result to log instead of parsing the text",
                           "properties": {"intent": _ref("RasaIntent"),
                                          "entities": {"type": "array", "items": {"type": "object"}},
                                          "intent_ranking": {"type": "array", "items": _ref("RasaIntent")}}},
        },
    },
    "RasaIntentTriggerRequest": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "entities": {"description": '{"entity": value} or [{"entity", "value"}]',
                         "anyOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}},
                                   {"type": "null"}]},
        },
    },
    "RasaActionRequest": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200},
                       "policy": _NULLABLE_STRING, "confidence": {"type": ["number", "null"]}},
    },
    "RasaEvent": {
        "type": "object",
        "required": ["event"],
        "properties": {"event": {"type": "string", "description": "user, bot or action"},
                       "timestamp": {"type": "number"}},
    },
    "RasaBotMessage": {
        "type": "object",
        "properties": {
            "recipient_id": {"type": "string"}, "text": {"type": "string"}, "image": {"type": "string"},
            "buttons": {"type": "array", "items": {"type": "object", "properties": {
                "title": {"type": "string"}, "payload": {"type": "string"}}}},
            "custom": {"type": "object"},
        },
    },
    "RasaTracker": {
        "type": "object",
        "required": ["sender_id", "slots", "latest_message", "latest_event_time", "followup_action", "paused",
                     "events", "latest_input_channel", "active_loop", "latest_action", "latest_action_name"],
        "properties": {
            "sender_id": {"type": "string"},
            "slots": {"type": "object", "description": "Slot values by name"},
            "latest_message": {"type": "object"},
            "latest_event_time": {"type": ["number", "null"]},
            "followup_action": _NULLABLE_STRING,
            "paused": {"type": "boolean", "description": "A person has the conversation"},
            "events": {"type": ["array", "null"], "items": _ref("RasaEvent")},
            "latest_input_channel": _NULLABLE_STRING,
            "active_loop": {"type": "object"},
            "latest_action": {"type": "object"},
            "latest_action_name": _NULLABLE_STRING,
        },
    },
    "RasaTrackerAndMessages": {
        "type": "object",
        "required": ["tracker"],
        "properties": {"tracker": _ref("RasaTracker"),
                       "messages": {"type": "array", "items": _ref("RasaBotMessage"),
                                    "description": "Left out when they went to the socket.io widget"}},
    },
}

_ERROR = _ref("RasaError")
_CONVERSATION = {"name": "conversation_id", "in": "path", "required": True,
                 "description": "The conversation: the REST channel's sender, socket.io's session_id",
                 "schema": {"type": "string", "maxLength": 128}}
_INCLUDE_EVENTS = {"name": "include_events", "in": "query", "required": False,
                   "schema": {"type": "string", "default": "AFTER_RESTART",
                              "enum": ["AFTER_RESTART", "ALL", "APPLIED", "NONE"]}}
_UNTIL = {"name": "until", "in": "query", "required": False,
          "description": "Only the events up to this Unix time", "schema": {"type": "number"}}
_OUTPUT_CHANNEL = {"name": "output_channel", "in": "query", "required": False,
                   "description": "socketio (or latest, when that was socket.io): the messages go to the "
                                  "conversation's widget; anything else: they come back in the answer",
                   "schema": {"type": "string"}}
_EMULATION = {"name": "emulation_mode", "in": "query", "required": False,
              "description": "Accepted; the answer is always in Rasa's own form",
              "schema": {"type": "string"}}


def _errors(*, body: bool, conversation: bool) -> dict[str, Any]:
    out = {
        "400": _json("Bad Request", _ERROR),
        "401": _json("User is not authenticated.", _ERROR),
        "403": _json("User has insufficient permission, or the API is closed (no token, no JWT secret)",
                     _ERROR),
        "409": _json("The request conflicts with the loaded model (execute without a Rasa project)",
                     _ERROR),
        "500": _json("An unexpected error occurred.", _ERROR),
        "503": _json("The turn log or Redis is unavailable; try again after Retry-After seconds", _ERROR),
    }
    if body:
        out["413"] = _json("Body or message over the size limit", _ERROR)
    if conversation:
        out["404"] = _json("No such path", _ERROR)
    return out


def _operation(operation_id: str, summary: str, ok: dict[str, Any], *, parameters: list[dict[str, Any]],
               body: str | None = None, conversation: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": operation_id, "summary": summary, "tags": ["Rasa HTTP API"],
        "security": SECURITY, "parameters": parameters,
        "responses": {"200": ok, **_errors(body=body is not None, conversation=conversation)},
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    return op


_TRACKER = _json("Success", _ref("RasaTracker"))
_TRACKER_AND_MESSAGES = _json("Success", _ref("RasaTrackerAndMessages"))

OPERATIONS: dict[str, dict[str, Any]] = {
    "version": {
        "operationId": "getVersion", "summary": "Version of Rasa whose API this is",
        "tags": ["Rasa HTTP API"], "security": [],
        "responses": {"200": _json("Version of Rasa", {
            "type": "object", "required": ["version", "minimum_compatible_version"],
            "properties": {"version": {"type": "string"},
                           "minimum_compatible_version": {"type": "string"}}})},
    },
    "status": _operation("getStatus", "The model answering now", _json("Success", {
        "type": "object", "required": ["model_id", "model_file", "num_active_training_jobs"],
        "properties": {"model_id": {"type": "string", "description": "The router's version"},
                       "model_file": {"type": "string"},
                       "num_active_training_jobs": {"type": "integer"},
                       "fingerprint": {"type": "object", "description": "Versions of every served model"}}}),
        parameters=[]),
    "parse": _operation("parseModelMessage", "Parse a message using the router",
                        _json("Success", _ref("RasaParseResult")), parameters=[_EMULATION],
                        body="RasaParseRequest"),
    "tracker": _operation("getConversationTracker", "Retrieve a conversation's tracker", _TRACKER,
                          parameters=[_CONVERSATION, _INCLUDE_EVENTS, _UNTIL], conversation=True),
    "messages": _operation("addConversationMessage", "Add a user message to a tracker, without an answer",
                           _TRACKER, parameters=[_CONVERSATION, _INCLUDE_EVENTS], body="RasaMessage",
                           conversation=True),
    "trigger_intent": _operation("triggerConversationIntent", "Inject an intent into a conversation",
                                 _TRACKER_AND_MESSAGES,
                                 parameters=[_CONVERSATION, _INCLUDE_EVENTS, _OUTPUT_CHANNEL],
                                 body="RasaIntentTriggerRequest", conversation=True),
    "execute": _operation("executeConversationAction", "Run an action in a conversation",
                          _TRACKER_AND_MESSAGES, parameters=[_CONVERSATION, _INCLUDE_EVENTS, _OUTPUT_CHANNEL],
                          body="RasaActionRequest", conversation=True),
}
COMPONENTS: dict[str, Any] = {"securitySchemes": SECURITY_SCHEMES, "schemas": SCHEMAS}

__all__ = ["COMPONENTS", "OPERATIONS"]
