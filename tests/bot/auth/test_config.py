"""Auth settings come from ``Settings.auth_*`` with defaults where a field is missing."""

from __future__ import annotations

from pathlib import Path

from bot.auth.config import AuthConfig
from core.settings import Settings
from tests.bot.auth.conftest import AuthSettings


def test_defaults_without_auth_fields(tmp_path: Path) -> None:
    config = AuthConfig.from_settings(Settings(var_dir=tmp_path))
    assert config == AuthConfig()
    assert config.cookie_secure and config.cookie_name == "shopbot_session"


def test_every_field_is_read_from_settings(tmp_path: Path) -> None:
    overrides = {
        "auth_cookie_name": "sid",
        "auth_cookie_secure": False,
        "auth_session_idle_s": 60.0,
        "auth_session_max_s": 600.0,
        "auth_login_ip_limit": 7,
        "auth_login_ip_window_s": 70.0,
        "auth_login_user_limit": 3,
        "auth_login_user_window_s": 30.0,
        "auth_login_backoff_s": 10.0,
        "auth_console_origins": "https://shop.example",
    }
    config = AuthConfig.from_settings(AuthSettings(var_dir=tmp_path, **overrides))  # type: ignore[arg-type]
    assert {f"auth_{k}": v for k, v in vars(config).items()} == overrides
