"""``shopbot users add NAME --role ROLE``, ``users list``, ``users disable NAME``, ``users enable NAME``."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from bot.auth.guard import Role
from core.errors import BadRequest
from core.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Add the ``users`` command to the ``shopbot`` parser's subcommands."""
    users = subparsers.add_parser("users", help="staff, auditor and admin accounts")
    actions = users.add_subparsers(dest="users_cmd", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add", help="create an account; the password comes from a prompt, or stdin when piped"
    )
    add.add_argument("name", help="2-64 characters of a-z, 0-9, '.', '_' or '-'")
    add.add_argument("--role", required=True, choices=[str(r) for r in Role])
    add.set_defaults(func=run)
    listing = actions.add_parser("list", help="every account with its role")
    listing.set_defaults(func=run)
    disable = actions.add_parser("disable", help="lock an account out and end its sessions at once")
    disable.add_argument("name")
    disable.set_defaults(func=run)
    enable = actions.add_parser("enable", help="let a disabled account sign in again")
    enable.add_argument("name")
    enable.set_defaults(func=run)
    return users


def read_password() -> str:
    """Prompt twice on a terminal; otherwise take the first line of stdin."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != first:
            raise BadRequest("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run a ``users`` action against the database of ``settings``."""
    from bot.auth.sessions import SessionStore
    from bot.auth.users import UserStore, normalize_username
    from core.db import make_engine

    engine = make_engine(settings.resolved_database_url())
    try:
        store = UserStore(engine)
        store.create()
        if args.users_cmd == "add":
            account = store.add(args.name, read_password(), Role(args.role))
            print(f"added {account.username} ({account.role})")
            return 0
        if args.users_cmd in ("disable", "enable"):
            disabled = args.users_cmd == "disable"
            if not store.set_disabled(args.name, disabled):
                raise BadRequest(f"no account {args.name!r}")
            if disabled:
                sessions = SessionStore(engine, settings.auth_session_idle_s, settings.auth_session_max_s)
                sessions.create()
                ended = sessions.revoke_user(normalize_username(args.name))
                print(f"disabled {args.name}; ended {ended} session(s)")
            else:
                print(f"enabled {args.name}")
            return 0
        for account in store.list():
            state = "  disabled" if account.disabled else ""
            print(f"{account.username}\t{account.role}\t{account.created_at:%Y-%m-%d %H:%M}{state}")
        return 0
    finally:
        engine.dispose()
