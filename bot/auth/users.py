"""Staff accounts in the ``users`` table, with argon2id password hashes."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, Column, DateTime, MetaData, String, Table, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.auth.guard import Role
from core.db import as_utc
from core.errors import BadRequest, Conflict

USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
MIN_PASSWORD_CHARS = 12
# argon2 hashes whatever it is given; the cap keeps a login body from buying much CPU.
MAX_PASSWORD_CHARS = 1024

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)


@dataclass(frozen=True)
class User:
    """Who is signed in: what handlers see on ``request[USER]``."""

    username: str
    role: Role


@dataclass(frozen=True)
class Account:
    """A row of the ``users`` table, without its hash."""

    username: str
    role: Role
    created_at: datetime
    disabled: bool


def normalize_username(name: str) -> str:
    """The canonical (trimmed, lower-case) username; ``BadRequest`` when malformed."""
    canonical = name.strip().lower()
    if not USERNAME_RE.fullmatch(canonical):
        raise BadRequest("username must be 2-64 characters of a-z, 0-9, '.', '_' or '-'")
    return canonical


def check_password(password: str) -> None:
    """Refuse passwords too short to resist guessing, or too long to hash cheaply."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise BadRequest(f"password must be at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise BadRequest(f"password must be at most {MAX_PASSWORD_CHARS} characters")


def _account(row: Any) -> Account:
    return Account(row.username, Role(row.role), as_utc(row.created_at), bool(row.disabled))


class UserStore:
    """Synchronous access to the accounts; call it from a worker thread, not the event loop."""

    def __init__(self, engine: Engine, hasher: PasswordHasher | None = None) -> None:
        self.engine = engine
        self.hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None

    def create(self) -> None:
        """Create the table when missing."""
        metadata.create_all(self.engine)

    def add(self, username: str, password: str, role: Role) -> Account:
        """Create an account; ``Conflict`` when the username is taken."""
        name = normalize_username(username)
        check_password(password)
        account = Account(name, Role(role), datetime.now(UTC), False)
        row = {
            "username": name,
            "password_hash": self.hasher.hash(password),
            "role": str(account.role),
            "created_at": account.created_at,
            "disabled": False,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(users.insert(), row)
        except IntegrityError as err:
            raise Conflict(f"user {name!r} exists already") from err
        return account

    def verify(self, username: str, password: str) -> User | None:
        """The user when the password matches an enabled account, else None.

        Unknown and malformed usernames are checked against a dummy hash with the same
        parameters, so the answer takes as long and does not tell which usernames exist.
        """
        try:
            name = normalize_username(username)
        except BadRequest:
            name = None
        row = self._row(name) if name else None
        stored = row.password_hash if row is not None else self._dummy()
        try:
            self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or row.disabled:
            return None
        if self.hasher.check_needs_rehash(stored):
            self._set_hash(row.username, self.hasher.hash(password))
        return User(row.username, Role(row.role))

    def get(self, username: str) -> Account | None:
        """The account, or None when there is none by that name."""
        try:
            row = self._row(normalize_username(username))
        except BadRequest:
            return None
        return _account(row) if row is not None else None

    def list(self) -> tuple[Account, ...]:
        """Every account, by username."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(users).order_by(users.c.username))
            return tuple(_account(r) for r in rows)

    def set_disabled(self, username: str, disabled: bool) -> bool:
        """Lock (or unlock) an account; False when there is no such account."""
        name = normalize_username(username)
        with self.engine.begin() as conn:
            result = conn.execute(update(users).where(users.c.username == name).values(disabled=disabled))
        return bool(result.rowcount)

    def _row(self, name: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(users).where(users.c.username == name)).first()

    def _set_hash(self, name: str, password_hash: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.username == name).values(password_hash=password_hash))

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash
