"""Typed settings from `REFDATA_*` environment variables, parsed once at INIT."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "REFDATA_"


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the variable, never its value."""


_ARN = re.compile(r"arn:[\w-]+:(secretsmanager|ssm):[\w-]+:\d{12}:(secret:.+|parameter/.+)")


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a secret lives: a Secrets Manager secret or an SSM (SecureString) parameter.

    Written as an ARN of either, `ssm:NAME` for a parameter, or a bare Secrets Manager name.
    The reference is not secret: it is what the environment holds, and what logs name.
    """

    service: Literal["secretsmanager", "ssm"]
    id: str  # what GetSecretValue's SecretId or GetParameter's Name takes (ARNs included)

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        text = text.strip()
        if text.startswith("arn:"):
            match = _ARN.fullmatch(text)
            if match is None:
                raise ValueError("must be a Secrets Manager secret or SSM parameter ARN")
            return cls("secretsmanager" if match[1] == "secretsmanager" else "ssm", text)
        if text.startswith("ssm:"):
            name = text.removeprefix("ssm:")
            if not name:
                raise ValueError("ssm: needs a parameter name, such as ssm:/refdata/prod/key")
            return cls("ssm", name)
        if not re.fullmatch(r"[\w/+=.@-]{1,512}", text):
            raise ValueError("must be a secret name, `ssm:NAME` or an ARN")
        return cls("secretsmanager", text)

    def __str__(self) -> str:
        return self.id if self.id.startswith("arn:") else f"{self.service}:{self.id}"


class Settings(BaseSettings):
    # An empty variable is an unset one: deploy tooling passes "" for "not used".
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, env_ignore_empty=True
    )

    # A secret: it may carry a password, so it never appears in reprs, logs or errors.
    # For local use and SQLite; on Lambda the credentials come by reference (below).
    database_url: SecretStr = SecretStr("sqlite:///./refdata.db")
    # The database credentials by reference (app/kit/secrets.py): a Secrets Manager secret
    # in the RDS JSON shape (username, password, host, port, dbname) or one holding a URL,
    # or an SSM SecureString with either. Read at INIT; read again when a login is refused.
    database_secret: SecretRef | None = None
    # Connect here instead of the secret's `host` (an RDS Proxy endpoint, say), and to this
    # database instead of its `dbname`: an RDS-managed secret holds only the login.
    database_host: str | None = None
    database_name: str | None = None
    # Lambda serves one request at a time per environment: one connection, no overflow.
    db_pool_size: Annotated[int, Field(ge=1, le=100)] = 1
    db_max_overflow: Annotated[int, Field(ge=0, le=100)] = 0
    db_pool_pre_ping: bool = True
    db_pool_recycle_seconds: Annotated[int, Field(ge=-1)] = 3600
    db_connect_timeout_seconds: Annotated[int, Field(ge=1, le=60)] = 3
    # Under uvicorn, how long a request waits for its turn (a free database connection, a
    # conversion worker) before it is answered 503 + Retry-After; SQLAlchemy's pool_timeout
    # too. On Lambda an environment serves one request at a time: nothing waits.
    queue_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5
    # Under uvicorn, how many conversion batches run at once, each in a worker thread. A batch
    # is Python work that holds the GIL: a second thread adds little throughput and makes
    # the event loop (every other request) wait longer for its turn.
    convert_workers: Annotated[int, Field(ge=1, le=16)] = 1
    # Reference data is revalidated (one version query) when older than this; 0: never.
    cache_ttl_seconds: Annotated[int, Field(ge=0, le=86400)] = 300
    # On database errors the last good snapshot is served this long past its TTL, then 503.
    cache_max_stale_seconds: Annotated[int, Field(ge=0, le=7 * 86400)] = 3600
    # Back-off after a failed load or revalidation: this many seconds, doubling, up to max.
    cache_retry_seconds: Annotated[int, Field(ge=1, le=3600)] = 2
    cache_retry_max_seconds: Annotated[int, Field(ge=1, le=3600)] = 60
    # Cache-Control max-age on reference responses (browsers, CDNs, API Gateway caches).
    http_max_age_seconds: Annotated[int, Field(ge=0, le=86400)] = 300
    # Custom-domain base path mapping (e.g. `/v1`), stripped before routing; `/` for none.
    api_gateway_base_path: str = "/"
    # Enables the admin API (bearer token). Unset: the /admin routes do not exist.
    admin_api_key: SecretStr | None = Field(default=None, min_length=16)
    # The same key by reference (a secret or SSM SecureString holding it), instead.
    admin_api_key_secret: SecretRef | None = None
    # The key every /orders route requires (bearer token); it must differ from the admin
    # key. Unset (and no secret below): the orders routes refuse every caller.
    orders_api_key: SecretStr | None = Field(default=None, min_length=16)
    # The same key by reference (a secret or SSM SecureString holding it), instead.
    orders_api_key_secret: SecretRef | None = None
    # How secrets are read: `extension`, the AWS Parameters and Secrets Lambda Extension on
    # localhost (no SDK imported), or `sdk`, Powertools Parameters on the runtime's boto3.
    secrets_client: Literal["extension", "sdk"] = "extension"
    secrets_timeout_seconds: Annotated[int, Field(ge=1, le=30)] = 3
    # PostgreSQL aborts a statement after this long (503 to the client); 0: no limit.
    db_statement_timeout_ms: Annotated[int, Field(ge=0, le=600_000)] = 5000
    # Request bodies larger than this are refused with 413 before they are read.
    max_body_bytes: Annotated[int, Field(ge=1024, le=6 * 1024 * 1024)] = 65536
    # The same for POST /vn/convert: 500 old addresses by names (up to 3 x 100 characters).
    max_convert_body_bytes: Annotated[int, Field(ge=1024, le=6 * 1024 * 1024)] = 1024 * 1024
    # Browser origins allowed by CORS, comma-separated; empty (the default): CORS closed.
    cors_origins: Annotated[list[str], NoDecode] = []
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # CloudWatch EMF metric lines on stdout. Unset (or empty): on when running on Lambda
    # (AWS_LAMBDA_FUNCTION_NAME is set), off elsewhere (uvicorn, a developer's console).
    emf_metrics: bool | None = None

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

    @field_validator(
        "database_secret", "admin_api_key_secret", "orders_api_key_secret", mode="before"
    )
    @classmethod
    def _reference(cls, value: object) -> object:
        if value is None or value == "":
            return None
        if isinstance(value, str):
            return SecretRef.parse(value)
        return value

    @model_validator(mode="after")
    def _one_source_each(self) -> Settings:
        if self.database_secret is not None and "database_url" in self.model_fields_set:
            raise ValueError("set REFDATA_DATABASE_SECRET or REFDATA_DATABASE_URL, not both")
        if self.admin_api_key_secret is not None and self.admin_api_key is not None:
            raise ValueError("set REFDATA_ADMIN_API_KEY_SECRET or REFDATA_ADMIN_API_KEY, not both")
        if self.orders_api_key_secret is not None and self.orders_api_key is not None:
            raise ValueError(
                "set REFDATA_ORDERS_API_KEY_SECRET or REFDATA_ORDERS_API_KEY, not both"
            )
        # Whoever holds the orders key must not hold the admin API with it.
        if (
            self.orders_api_key is not None
            and self.admin_api_key is not None
            and self.orders_api_key.get_secret_value() == self.admin_api_key.get_secret_value()
        ) or (
            self.orders_api_key_secret is not None
            and self.orders_api_key_secret == self.admin_api_key_secret
        ):
            raise ValueError("the orders key and the admin key must be different keys")
        return self

    @field_validator(
        "admin_api_key",
        "orders_api_key",
        "database_host",
        "database_name",
        "emf_metrics",
        mode="before",
    )
    @classmethod
    def _empty_means_none(cls, value: object) -> object:
        # Deploy tooling passes an empty string for "unset": no key disables the admin API,
        # no EMF choice leaves it to the runtime.
        return None if value == "" else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @property
    def is_sqlite(self) -> bool:
        # Credentials by reference are PostgreSQL's (RDS); SQLite needs none.
        return self.database_secret is None and self.database_url.get_secret_value().startswith(
            "sqlite"
        )

    @property
    def admin_api_enabled(self) -> bool:
        return self.admin_api_key is not None or self.admin_api_key_secret is not None


def load_settings() -> Settings:
    """Parse the environment, or raise ConfigError naming each bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            if error["loc"]:
                problems.append(f"{ENV_PREFIX}{str(error['loc'][0]).upper()}: {error['msg']}")
            else:  # a rule across variables: its message names them
                problems.append(error["msg"].removeprefix("Value error, "))
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
