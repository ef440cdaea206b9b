"""Settings: Lambda-sized defaults, and bad values fail at import naming the variable."""

from __future__ import annotations

import pytest

from app.kit.settings import Settings
from harness.processes import run_python


def test_defaults_suit_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REFDATA_DATABASE_URL")
    settings = Settings()
    assert settings.database_url.get_secret_value() == "sqlite:///./refdata.db"
    assert (settings.db_pool_size, settings.db_max_overflow) == (1, 0)
    assert settings.db_pool_pre_ping is True
    assert settings.db_connect_timeout_seconds <= 3


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_plain_postgresql_urls_get_psycopg_3(scheme: str) -> None:
    settings = Settings(database_url=f"{scheme}://u:p@db.internal:5432/refdata")
    assert (
        settings.database_url.get_secret_value()
        == "postgresql+psycopg://u:p@db.internal:5432/refdata"
    )


def test_the_database_url_never_shows_in_a_repr() -> None:
    settings = Settings(database_url="postgresql://u:hunter2@db/refdata")
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REFDATA_DB_POOL_SIZE", "lots"),
        ("REFDATA_DB_POOL_SIZE", "0"),
        ("REFDATA_DB_MAX_OVERFLOW", "-1"),
        ("REFDATA_DB_POOL_PRE_PING", "maybe"),
        ("REFDATA_DB_CONNECT_TIMEOUT_SECONDS", "600"),
        ("REFDATA_LOG_LEVEL", "LOUD"),
        ("REFDATA_DATABASE_URL", "mysql://root:hunter2@db/refdata"),
        ("REFDATA_DATABASE_URL", "hunter2"),
    ],
)
def test_a_bad_value_fails_at_import_naming_the_variable(variable: str, value: str) -> None:
    result = run_python("import app.lambda_handler", {variable: value})
    assert result.returncode != 0
    assert "ConfigError" in result.stderr
    assert variable in result.stderr
    assert "hunter2" not in result.stderr
    # It fails in config, before any engine or connection exists.
    assert "sqlalchemy" not in result.stderr.lower()
