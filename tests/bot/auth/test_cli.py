"""``shopbot users add`` and ``users list``: through ``run`` and through the real console script."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.auth import cli
from bot.auth.guard import Role
from bot.auth.users import User, UserStore
from core.db import make_engine
from core.errors import BadRequest, Conflict
from core.settings import Settings

PASSWORD = "a long enough password"
SHOPBOT = Path(sys.executable).with_name("shopbot")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="shopbot")
    cli.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def verify(var_dir: Path, name: str, password: str) -> User | None:
    engine = make_engine(Settings(var_dir=var_dir, database_url="").resolved_database_url())
    try:
        return UserStore(engine).verify(name, password)
    finally:
        engine.dispose()


class FakeTerminal(io.StringIO):
    """Stdin that claims to be a terminal; the password then comes from getpass."""

    def isatty(self) -> bool:
        return True


def test_add_reads_the_password_from_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(var_dir=tmp_path, database_url="")
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\r\nignored second line\n"))
    assert cli.run(settings, parse("users", "add", "Bob", "--role", "auditor")) == 0
    out = capsys.readouterr().out
    assert out.strip() == "added bob (auditor)" and PASSWORD not in out
    assert verify(tmp_path, "bob", PASSWORD) == User("bob", Role.AUDITOR)
    assert cli.run(settings, parse("users", "list")) == 0
    assert capsys.readouterr().out.startswith("bob\tauditor\t")


def test_add_refuses_duplicates_and_weak_passwords(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(var_dir=tmp_path, database_url="")
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    cli.run(settings, parse("users", "add", "bob", "--role", "staff"))
    monkeypatch.setattr(sys, "stdin", io.StringIO("other long password\n"))
    with pytest.raises(Conflict):
        cli.run(settings, parse("users", "add", "BOB", "--role", "admin"))
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    with pytest.raises(BadRequest):
        cli.run(settings, parse("users", "add", "carol", "--role", "staff"))
    assert verify(tmp_path, "bob", PASSWORD) == User("bob", Role.STAFF)
    assert verify(tmp_path, "carol", "short") is None


def test_a_terminal_is_prompted_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(var_dir=tmp_path, database_url="")
    monkeypatch.setattr(sys, "stdin", FakeTerminal())
    answers = iter([PASSWORD, PASSWORD + "typo"])
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt: next(answers))
    with pytest.raises(BadRequest, match="differ"):
        cli.run(settings, parse("users", "add", "dan", "--role", "staff"))
    answers = iter([PASSWORD, PASSWORD])
    assert cli.run(settings, parse("users", "add", "dan", "--role", "staff")) == 0
    assert verify(tmp_path, "dan", PASSWORD) == User("dan", Role.STAFF)


def test_the_role_must_be_known() -> None:
    with pytest.raises(SystemExit):
        parse("users", "add", "eve", "--role", "root")
    with pytest.raises(SystemExit):
        parse("users", "add", "eve")


def _shopbot(var_dir: Path, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHOPBOT_VAR_DIR": str(var_dir), "SHOPBOT_DATABASE_URL": ""}
    return subprocess.run(
        [str(SHOPBOT), *argv], input=stdin, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_shopbot_console_script(tmp_path: Path) -> None:
    added = _shopbot(tmp_path, "users", "add", "frida", "--role", "admin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert "added frida (admin)" in added.stdout
    assert PASSWORD not in added.stdout + added.stderr
    assert (tmp_path / "turns.sqlite3").exists()
    assert verify(tmp_path, "frida", PASSWORD) == User("frida", Role.ADMIN)
    again = _shopbot(tmp_path, "users", "add", "frida", "--role", "staff", stdin="another long password\n")
    assert again.returncode == 2 and "exists already" in again.stderr
    listed = _shopbot(tmp_path, "users", "list")
    assert listed.returncode == 0 and listed.stdout.startswith("frida\tadmin\t")


def test_disable_ends_every_session_and_enable_lets_the_account_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.auth.sessions import SessionStore

    settings = Settings(var_dir=tmp_path, database_url="")
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    cli.run(settings, parse("users", "add", "gus", "--role", "staff"))
    engine = make_engine(settings.resolved_database_url())
    sessions = SessionStore(engine, 3600, 7200)
    sessions.create()
    tokens = [sessions.issue("gus").token for _ in range(2)]
    assert cli.run(settings, parse("users", "disable", "Gus")) == 0
    assert "ended 2 session(s)" in capsys.readouterr().out
    assert all(sessions.lookup(t) is None for t in tokens)
    assert verify(tmp_path, "gus", PASSWORD) is None
    assert cli.run(settings, parse("users", "enable", "gus")) == 0
    assert verify(tmp_path, "gus", PASSWORD) == User("gus", Role.STAFF)
    with pytest.raises(BadRequest, match="no account"):
        cli.run(settings, parse("users", "disable", "nobody"))
    engine.dispose()
