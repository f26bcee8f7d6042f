"""Fuzzing both shopper channels of a real server: whatever arrives, nothing 5xx, nothing crashes.

Hypothesis generates JSON of every shape (deep, huge numbers, lone surrogates, NUL, wrong
types) for Rasa's REST webhook and for every socket.io event the widget speaks.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.server_process import ShopbotProcess, serving

pytestmark = pytest.mark.slow

text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=60)
leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text
anything = st.recursive(
    leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=25
)
messages = st.one_of(text, st.sampled_from(["hi", "where is my order 573415", "recommend something",
                                            "I want to talk to a person", "/handoff", "x" * 2100]))
bodies = st.one_of(
    anything,
    st.fixed_dictionaries({"sender": st.one_of(text, anything), "message": st.one_of(messages, anything)},
                          optional={"metadata": anything}),
)
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def server(built_var: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    with serving(built_var, tmp_path_factory.mktemp("fuzz")) as process:
        yield process


def _post(server: ShopbotProcess, data: bytes) -> int:
    request = urllib.request.Request(server.base + "/webhooks/rest/webhook", data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


@FUZZ
@given(body=bodies)
def test_rest_never_answers_5xx(server: ShopbotProcess, body: Any) -> None:
    data = json.dumps(body, ensure_ascii=True).encode()
    # 403: a sender the fuzz used before names a conversation begun without this request's token.
    assert _post(server, data) in (200, 400, 403, 413)


@FUZZ
@given(raw=st.binary(max_size=200))
def test_rest_raw_bytes_never_5xx(server: ShopbotProcess, raw: bytes) -> None:
    assert _post(server, raw) in (200, 400, 403, 413)


# The conversation tokens the fuzzing client was issued, by session id.
TOKENS: dict[str, str] = {}


@pytest.fixture(scope="module")
def shopper(server: ShopbotProcess) -> Any:
    client = socketio.Client(reconnection=False)
    client.on("session_token", lambda data: TOKENS.update({data["session_id"]: data["conversation_token"]}))
    client.connect(server.base, transports=["websocket"])
    client.call("session_request", {"session_id": "fuzzer"}, timeout=30)
    yield client
    client.disconnect()


@FUZZ
@given(
    event=st.sampled_from(["user_uttered", "session_request", "history_request", "user_typing"]),
    data=st.one_of(bodies, st.fixed_dictionaries(
        {"message": messages, "session_id": st.one_of(text, anything)}, optional={"customData": anything}
    )),
)
def test_socketio_events_never_break_the_connection(shopper: Any, event: str, data: Any) -> None:
    ack = shopper.call(event, data, timeout=60)
    assert shopper.connected, f"{event} {data!r} dropped the connection"
    if isinstance(ack, dict) and "ok" in ack:
        assert ack["ok"] or ack["error"]["code"] in ("bad_request", "payload_too_large", "forbidden")
    # Re-join the fuzzer's own session (with its token) after a session_request with other data.
    mine = {"session_id": "fuzzer", "conversation_token": TOKENS["fuzzer"]}
    rejoined = shopper.call("session_request", mine, timeout=30)
    assert rejoined == "fuzzer"


def test_a_packet_too_deep_or_too_big_to_parse_gets_an_error_back(shopper: Any) -> None:
    deep: Any = []
    for _ in range(40):
        deep = [deep]
    sys.set_int_max_str_digits(0)  # the client must be able to send the 5,000-digit number at all
    for custom in (deep, {"n": 10**5000}):
        ack = shopper.call("user_uttered", {"message": "hi", "session_id": "fuzzer", "customData": custom},
                           timeout=30)
        assert ack["ok"] is False and ack["error"]["code"] == "bad_request", ack
    assert shopper.call("user_uttered", {"message": "do you sell candles?"}, timeout=60)["ok"]
