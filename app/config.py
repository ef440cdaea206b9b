"""Typed settings from `REFDATA_*` environment variables, parsed once at INIT."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "REFDATA_"
_SECRET_FIELDS = frozenset({"database_url"})


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the variable, never its value."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    # A secret: it may carry a password, so it never appears in reprs, logs or errors.
    database_url: SecretStr = SecretStr("sqlite:///./refdata.db")
    # Lambda serves one request at a time per environment: one connection, no overflow.
    db_pool_size: Annotated[int, Field(ge=1, le=100)] = 1
    db_max_overflow: Annotated[int, Field(ge=0, le=100)] = 0
    db_pool_pre_ping: bool = True
    db_pool_recycle_seconds: Annotated[int, Field(ge=-1)] = 3600
    db_connect_timeout_seconds: Annotated[int, Field(ge=1, le=60)] = 3
    # A cold cache (database unreachable) tries to load again after this long.
    cache_retry_seconds: Annotated[int, Field(ge=1, le=3600)] = 5
    # Cache-Control max-age on reference responses (browsers, CDNs, API Gateway caches).
    http_max_age_seconds: Annotated[int, Field(ge=0, le=86400)] = 300
    # Custom-domain base path mapping (e.g. `/v1`), stripped before routing; `/` for none.
    api_gateway_base_path: str = "/"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("database_url")
    @classmethod
    def _supported_driver(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        scheme, sep, rest = url.partition("://")
        if not sep or not rest:
            raise ValueError("must be a URL such as sqlite:///./refdata.db")
        # Plain PostgreSQL URLs get the psycopg 3 driver; anything else must be spelled out.
        if scheme in ("postgres", "postgresql"):
            return SecretStr(f"postgresql+psycopg://{rest}")
        if scheme not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
            raise ValueError("must use sqlite:// or postgresql+psycopg://")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.get_secret_value().startswith("sqlite")


def load_settings() -> Settings:
    """Parse the environment, or raise ConfigError naming each bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            field = str(error["loc"][0]) if error["loc"] else "?"
            problems.append(f"{ENV_PREFIX}{field.upper()}: {error['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


settings = load_settings()
