"""Auth settings in one frozen object, read from ``Settings`` fields named ``auth_*``."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class AuthConfig:
    """Cookie, session lifetime and login rate limits (``Settings.auth_<name>`` each)."""

    cookie_name: str = "shopbot_session"
    # Off only for plain-http development on a host other than localhost.
    cookie_secure: bool = True
    session_idle_s: float = 2 * 3600.0
    session_max_s: float = 12 * 3600.0
    # Per address: a ceiling high enough for a shop's office behind one NAT.
    login_ip_limit: int = 200
    login_ip_window_s: float = 900.0
    # Per username and address: free failures, then a wait from login_backoff_s doubling up to
    # login_user_window_s (bot/auth/ratelimit.py Backoff).
    login_user_limit: int = 5
    login_user_window_s: float = 900.0
    login_backoff_s: float = 30.0
    # Other origins whose pages may open the console WebSocket (comma-separated).
    console_origins: str = ""

    @classmethod
    def from_settings(cls, settings: Any) -> AuthConfig:
        """Take each ``auth_<name>`` attribute of ``settings``, the default where it has none."""
        defaults = cls()
        values = {f.name: getattr(settings, f"auth_{f.name}", getattr(defaults, f.name)) for f in fields(cls)}
        return cls(**values)
