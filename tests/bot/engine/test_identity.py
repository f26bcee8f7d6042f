"""Identity tokens: the timestamped HMAC, the old untimed one behind a setting, JWTs with exp;
anything malformed is an anonymous shopper, never an exception."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.identity import CLOCK_SKEW_S, IdentityVerifier, sign, sign_jwt, sign_untimed
from tests.identity import SECRET

NOW = 1_700_000_000.0


def verifier(**kwargs: Any) -> IdentityVerifier:
    return IdentityVerifier(SECRET, clock=lambda: NOW, **kwargs)


def claim(customer_id: Any, token: Any) -> dict[str, Any]:
    return {"customer_id": customer_id, "customer_token": token}


def test_timed_tokens_hold_for_their_max_age() -> None:
    v = verifier(max_age_s=3600)
    assert sign(SECRET, "17841", now=NOW) == f"{int(NOW)}." + hmac.new(
        SECRET, f"17841.{int(NOW)}".encode(), hashlib.sha256).hexdigest()
    assert v.verify(claim("17841", sign(SECRET, "17841", now=NOW - 3600))) == "17841"
    upper = sign(SECRET, "17841", now=NOW).upper()
    assert v.verify(claim(17841, upper)) == "17841", "an int id, any hex case"
    assert v.verify(claim("17841", sign(SECRET, "17841", now=NOW - 3601))) is None, "too old"
    assert v.verify(claim("17841", sign(SECRET, "17841", now=NOW + CLOCK_SKEW_S))) == "17841"
    future = sign(SECRET, "17841", now=NOW + CLOCK_SKEW_S + 1)
    assert v.verify(claim("17841", future)) is None, "from the future"
    assert v.verify(claim("17842", sign(SECRET, "17841", now=NOW))) is None, "another customer's"
    assert v.verify(claim("17841", sign(b"another secret", "17841", now=NOW))) is None
    # The time is signed: moving it forward breaks the signature.
    ts, mac = sign(SECRET, "17841", now=NOW - 7200).split(".")
    assert v.verify(claim("17841", f"{int(NOW)}.{mac}")) is None


def test_untimed_tokens_only_when_the_shop_allows_them() -> None:
    old = sign_untimed(SECRET, "17841")
    assert verifier().verify(claim("17841", old)) is None, "refused by default: it never expires"
    assert verifier(accept_untimed=True).verify(claim("17841", old)) == "17841"
    assert verifier(accept_untimed=True).verify(claim("17842", old)) is None


def _jwt(header: str, payload: str, secret: bytes = SECRET) -> str:
    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()

    signing = f"{b64(header)}.{b64(payload)}"
    signature = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def test_jwt_exp_is_enforced() -> None:
    v = verifier(max_age_s=86400)
    assert v.verify({"customer_token": sign_jwt(SECRET, "17841", 3600, now=NOW)}) == "17841"
    assert v.verify({"customer_token": sign_jwt(SECRET, "17841", 3600, now=NOW - 3600)}) is None, "expired"
    forever = sign_jwt(SECRET, "17841", 10 * 86400, now=NOW)
    assert v.verify({"customer_token": forever}) is None, "lives too long"
    head = '{"alg":"HS256"}'
    for payload in ('{"sub":"1"}', '{"sub":"1","exp":NaN}', '{"sub":"1","exp":Infinity}',
                    '{"sub":"1","exp":true}', '{"sub":"1","exp":"9999999999"}',
                    f'{{"sub":"1","exp":{NOW + 60},"nbf":{NOW + 3600}}}',
                    f'{{"sub":"\\ud800","exp":{NOW + 60}}}', f'{{"sub":17841,"exp":{NOW + 60}}}'):
        assert v.verify({"customer_token": _jwt(head, payload)}) is None, payload
    assert v.verify({"customer_token": _jwt(head, f'{{"sub":"1","exp":{NOW + 60}}}')}) == "1"
    assert v.verify({"customer_token": _jwt('{"alg":"none"}', f'{{"sub":"1","exp":{NOW + 60}}}')}) is None
    deep = "[" * 5000 + "]" * 5000
    assert v.verify({"customer_token": _jwt(deep, "{}")}) is None, "no RecursionError"


def test_the_testers_bodies_are_anonymous_shoppers() -> None:
    v = verifier(accept_untimed=True)
    good = sign(SECRET, "1", now=NOW)
    for metadata in (claim("1", "é"), claim("\ud800", good), claim("1", "\ud800" + good[1:]),
                     {"customer_token": "a.\ud800.c"}, {"customer_token": "é.b.c"},
                     {"customer_token": "a\u2024b.c"}, claim("1", "１" + good[1:]), claim("\x00", good),
                     claim(True, good), claim(10**5000, good), claim(["1"], good), {"customer_token": 7}):
        assert v.verify(metadata) is None, metadata


text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=80)
ascii_tokens = st.text(alphabet="0123456789abcdefABCDEF.-_=xyz", max_size=120)


@settings(max_examples=3000, deadline=None, derandomize=True)
@given(
    customer_id=st.one_of(text, st.integers(), st.floats(), st.none(), st.booleans(),
                          st.lists(text, max_size=2)),
    token=st.one_of(text, ascii_tokens, st.integers(), st.none(),
                    st.builds(lambda t, c: sign(SECRET, "1", now=NOW)[:t] + c, st.integers(0, 80), text),
                    st.builds(lambda a, b, c: f"{a}.{b}.{c}", text, ascii_tokens, text)),
)
def test_no_metadata_makes_verify_raise(customer_id: Any, token: Any) -> None:
    result = verifier(accept_untimed=True).verify({"customer_id": customer_id, "customer_token": token})
    assert result is None or (isinstance(result, str) and result.isprintable()), result
    json.dumps(result)  # whatever is verified can be logged and stored
