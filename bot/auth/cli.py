"""``shopbot users add NAME --role ROLE`` and ``shopbot users list``."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from bot.auth.guard import Role
from bot.errors import BadRequest
from bot.settings import Settings


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
    """Run ``users add`` or ``users list`` against the database of ``settings``."""
    from bot.auth.users import UserStore
    from monitoring.turnlog import make_engine

    engine = make_engine(settings.resolved_database_url())
    try:
        store = UserStore(engine)
        store.create()
        if args.users_cmd == "add":
            account = store.add(args.name, read_password(), Role(args.role))
            print(f"added {account.username} ({account.role})")
            return 0
        for account in store.list():
            state = "  disabled" if account.disabled else ""
            print(f"{account.username}\t{account.role}\t{account.created_at:%Y-%m-%d %H:%M}{state}")
        return 0
    finally:
        engine.dispose()
