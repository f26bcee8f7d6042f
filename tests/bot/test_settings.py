import pytest

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
