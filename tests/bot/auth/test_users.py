"""Accounts: argon2id hashing, verification, username rules, the unknown-user path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import argon2
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.auth.guard import Role
from bot.auth.users import User, UserStore, normalize_username, users
from core.db import make_engine
from core.errors import BadRequest, Conflict

# The real argon2id with small costs, so the tests hash in milliseconds.
CHEAP: dict[str, Any] = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
PASSWORD = "correct horse battery"


class CountingHasher(PasswordHasher):
    """The real hasher, remembering which hashes ``verify`` was asked about."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:  # noqa: A002 - argon2's name
        self.verified.append(hash if isinstance(hash, str) else hash.decode())
        return super().verify(hash, password)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'db' / 'users.sqlite3'}")
    yield eng
    eng.dispose()


@pytest.fixture
def store(engine: Engine) -> UserStore:
    s = UserStore(engine, CountingHasher(**CHEAP))
    s.create()
    return s


def stored_hash(engine: Engine, name: str) -> str:
    with engine.connect() as conn:
        return str(conn.execute(select(users.c.password_hash).where(users.c.username == name)).scalar_one())


def test_passwords_are_stored_as_argon2id_hashes(store: UserStore, engine: Engine) -> None:
    account = store.add("Alice", PASSWORD, Role.STAFF)
    assert account.username == "alice" and account.role is Role.STAFF and not account.disabled
    digest = stored_hash(engine, "alice")
    assert digest.startswith("$argon2id$") and PASSWORD not in digest
    store.add("bob", PASSWORD, Role.STAFF)
    assert stored_hash(engine, "bob") != digest, "each hash has its own salt"


def test_verify_accepts_only_the_right_password(store: UserStore) -> None:
    store.add("alice", PASSWORD, Role.AUDITOR)
    assert store.verify("alice", PASSWORD) == User("alice", Role.AUDITOR)
    assert store.verify("  ALICE ", PASSWORD) == User("alice", Role.AUDITOR)
    assert store.verify("alice", PASSWORD.upper()) is None
    assert store.verify("alice", "") is None


@pytest.mark.parametrize("name", ["nobody", "x", "no spaces", "../etc", "é" * 5])
def test_unknown_users_cost_one_full_verification(store: UserStore, name: str) -> None:
    store.add("alice", PASSWORD, Role.STAFF)
    hasher = store.hasher
    assert isinstance(hasher, CountingHasher)
    assert store.verify(name, PASSWORD) is None
    assert len(hasher.verified) == 1, "a dummy hash is checked, as for a real account"
    real = stored_hash(store.engine, "alice")
    assert argon2.extract_parameters(hasher.verified[0]) == argon2.extract_parameters(real)


def test_disabled_accounts_cannot_sign_in(store: UserStore) -> None:
    store.add("dora", PASSWORD, Role.STAFF)
    assert store.set_disabled("dora", True)
    assert store.verify("dora", PASSWORD) is None
    account = store.get("dora")
    assert account is not None and account.disabled
    assert store.set_disabled("dora", False) and store.verify("dora", PASSWORD) is not None
    assert not store.set_disabled("ghost", True)


@pytest.mark.parametrize(
    "name", ["", "a", "a" * 65, "-dash", ".dot", "has space", "semi;colon", "ümlaut", "na\nme", "a/b"]
)
def test_malformed_usernames_are_refused(store: UserStore, name: str) -> None:
    with pytest.raises(BadRequest):
        store.add(name, PASSWORD, Role.STAFF)
    assert store.list() == ()


@pytest.mark.parametrize("name", ["ab", "alice", "a.b-c_d", "staff01", "a" * 64])
def test_wellformed_usernames(name: str) -> None:
    assert normalize_username(f" {name.upper()} ") == name


def test_weak_and_huge_passwords_are_refused(store: UserStore) -> None:
    for password in ("short", "x" * 11, "x" * 1025):
        with pytest.raises(BadRequest):
            store.add("alice", password, Role.STAFF)
    assert store.get("alice") is None


def test_usernames_are_unique_whatever_the_case(store: UserStore) -> None:
    store.add("alice", PASSWORD, Role.STAFF)
    with pytest.raises(Conflict):
        store.add("ALICE", "another long password", Role.ADMIN)
    assert store.verify("alice", PASSWORD) == User("alice", Role.STAFF)


def test_get_and_list(store: UserStore) -> None:
    store.add("zed", PASSWORD, Role.ADMIN)
    store.add("amy", PASSWORD, Role.AUDITOR)
    assert [(a.username, a.role) for a in store.list()] == [("amy", Role.AUDITOR), ("zed", Role.ADMIN)]
    account = store.get("ZED")
    assert account is not None and account.created_at.tzinfo is not None
    assert store.get("nobody") is None and store.get("bad name") is None


def test_weak_hashes_are_upgraded_on_sign_in(engine: Engine) -> None:
    UserStore(engine, PasswordHasher(**CHEAP)).create()
    UserStore(engine, PasswordHasher(**CHEAP)).add("alice", PASSWORD, Role.STAFF)
    strong = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    assert UserStore(engine, strong).verify("alice", PASSWORD) is not None
    params = argon2.extract_parameters(stored_hash(engine, "alice"))
    assert (params.time_cost, params.memory_cost) == (2, 2048)
    assert UserStore(engine, strong).verify("alice", PASSWORD) is not None
