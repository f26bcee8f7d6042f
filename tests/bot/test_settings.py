from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import Settings


def test_database_password_comes_from_the_named_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPBOT_DATABASE_URL", "postgresql+psycopg2://shop@db.internal/turns")
    monkeypatch.setenv("SHOPBOT_DATABASE_PASSWORD_ENV", "TURNLOG_DB_PASSWORD")
    monkeypatch.setenv("TURNLOG_DB_PASSWORD", "s3cr3t")
    settings = Settings()
    assert settings.resolved_database_url() == "postgresql+psycopg2://shop:s3cr3t@db.internal/turns"
    assert "s3cr3t" not in repr(settings) and "s3cr3t" not in settings.model_dump_json()


def test_default_turn_log_is_a_sqlite_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(var_dir=tmp_path)
    assert settings.resolved_database_url() == f"sqlite:///{tmp_path / 'turns.sqlite3'}"


def test_each_router_profile_has_its_own_seed_router(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SHOPBOT_ROUTER_PROFILE", "accurate")
    monkeypatch.setenv("SHOPBOT_DEVICE", "cuda")
    settings = Settings(var_dir=tmp_path)
    assert (settings.router_profile, settings.device) == ("accurate", "cuda")
    assert settings.router_dir == tmp_path / "router-accurate"
    assert settings.mpnet_dir == tmp_path / "encoder" / "mpnet"
    assert Settings(var_dir=tmp_path, router_profile="fast").router_dir == tmp_path / "router"
    # A pinned router is served whatever the profile says.
    assert Settings(var_dir=tmp_path, router_model=str(tmp_path / "mine")).router_dir == tmp_path / "mine"


@pytest.mark.parametrize(("name", "value"), [("SHOPBOT_ROUTER_PROFILE", "turbo"), ("SHOPBOT_DEVICE", "tpu")])
def test_a_mistyped_profile_or_device_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize("pattern", ["(", "", r"\w+", ".*", "x" * 201])
def test_an_order_number_pattern_that_breaks_or_matches_anything_stops_the_start(
    pattern: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPBOT_ORDER_NUMBER_PATTERN", pattern)
    with pytest.raises(ValidationError, match="order_number_pattern"):
        Settings()


def test_a_shop_sets_its_own_order_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPBOT_ORDER_NUMBER_PATTERN", r"#?\d{4,8}")
    assert Settings().order_number_pattern == r"#?\d{4,8}"
