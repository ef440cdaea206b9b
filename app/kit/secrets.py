"""Secrets by reference: read once per process at INIT, kept in memory, read again on refusal.

Only a reference (app.kit.settings.SecretRef: an ARN or a name) lives in the environment. The
value is read at INIT, through the AWS Parameters and Secrets Lambda Extension
(REFDATA_SECRETS_CLIENT=extension, the default: one GET on localhost, no SDK imported) or
through Powertools Parameters (`sdk`: boto3, which the Lambda runtime ships). Warm invokes
use the copy in memory.

A secret is read again, bypassing every cache, only when what it holds is refused: a login
that fails authentication (the database password was rotated), an admin key that does not
match. Those reads back off like the reference cache's revalidation (app.kit.backoff): an
expired secret costs one read per back-off window, never one per invoke.

No value ever reaches a log line, a problem body or /health: errors name the reference and
the cause (an HTTP status, an AWS error code, a missing field), never what was read.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

import orjson
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from app.kit.backoff import Backoff
from app.kit.logs import logger
from app.kit.settings import SecretRef, Settings

T = TypeVar("T")


class SecretUnavailable(Exception):
    """A secret could not be read, or what was read is unusable. The message names the
    reference and the reason, never the value."""

    def __init__(self, reason: str, retry_after: int = 1) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


# (reference, bypass caches) -> the secret's text.
Reader = Callable[[SecretRef, bool], str]
# Connections to the extension refused before one is given up (50 ms apart): Lambda starts
# the function's INIT once extensions have registered; a moment covers a late listener.
_CONNECT_ATTEMPTS = 3


def _loads(data: str | bytes) -> Any:
    """JSON, or None if it is not: no exception (its context would hold the text) escapes."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _aws_error(body: bytes) -> str:
    """The AWS error code of an error body (`ResourceNotFoundException`), never its text."""
    document = _loads(body)
    if isinstance(document, dict):
        for key in ("__type", "Code", "code", "errorType"):
            code = document.get(key)
            if isinstance(code, str):
                return code.rsplit("#", 1)[-1]
    return "no error code"


def extension_reader(timeout: float) -> Reader:
    """Reads through the Parameters and Secrets Lambda Extension's HTTP endpoint.

    The protocol: GET /secretsmanager/get?secretId=… or /systemsmanager/parameters/get?
    name=…&withDecryption=true on localhost:PARAMETERS_SECRETS_EXTENSION_HTTP_PORT (2773),
    with the environment's AWS_SESSION_TOKEN in X-Aws-Parameters-Secrets-Token; the answer
    is GetSecretValue's or GetParameter's JSON. serverless.yml turns the extension's own
    cache off (PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED=false): this module keeps the
    value, and a read after a refusal must reach Secrets Manager, which the extension's
    cache offers no documented way to bypass. So every read here is a fresh one.
    """
    # The stdlib's HTTP client, only where a secret is read this way.
    import http.client  # noqa: PLC0415
    from urllib.parse import urlencode  # noqa: PLC0415

    port = int(os.environ.get("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "2773"))

    def get(path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("localhost", port, timeout=timeout)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def read(ref: SecretRef, fresh: bool) -> str:
        token = os.environ.get("AWS_SESSION_TOKEN")
        if not token:
            raise SecretUnavailable(f"{ref}: AWS_SESSION_TOKEN is not set (the extension needs it)")
        if ref.service == "secretsmanager":
            path = "/secretsmanager/get?" + urlencode({"secretId": ref.id})
        else:
            path = "/systemsmanager/parameters/get?" + urlencode(
                {"name": ref.id, "withDecryption": "true"}
            )
        headers = {"X-Aws-Parameters-Secrets-Token": token}
        for attempt in range(_CONNECT_ATTEMPTS):
            try:
                status, body = get(path, headers)
                break
            except (OSError, http.client.HTTPException) as exc:
                # Refused: not listening yet, perhaps (or not there at all): once more.
                if isinstance(exc, ConnectionRefusedError) and attempt + 1 < _CONNECT_ATTEMPTS:
                    time.sleep(0.05)
                    continue
                raise SecretUnavailable(
                    f"{ref}: the Parameters and Secrets extension on localhost:{port} did not "
                    f"answer ({type(exc).__name__})"
                ) from None
        if status != 200:
            raise SecretUnavailable(f"{ref}: the extension answered {status} ({_aws_error(body)})")
        document = _loads(body)
        if ref.service == "secretsmanager":
            value = document.get("SecretString") if isinstance(document, dict) else None
        else:
            parameter = document.get("Parameter") if isinstance(document, dict) else None
            value = parameter.get("Value") if isinstance(parameter, dict) else None
        if not isinstance(value, str):
            raise SecretUnavailable(f"{ref}: the extension's answer holds no text value")
        return value

    return read


def sdk_reader(timeout: float) -> Reader:
    """Reads with Powertools Parameters on boto3 (`get_secret`, `get_parameter`), each call
    with force_fetch when caches must be bypassed. boto3 is imported here, at the first
    read: it is what this choice costs at INIT."""
    from aws_lambda_powertools.utilities.parameters import (  # noqa: PLC0415
        SecretsProvider,
        SSMProvider,
    )
    from aws_lambda_powertools.utilities.parameters.exceptions import (  # noqa: PLC0415
        GetParameterError,
    )
    from botocore.config import Config  # noqa: PLC0415

    # One attempt: two secrets at INIT must fit in INIT's 10 s however the network is.
    config = Config(
        connect_timeout=timeout, read_timeout=timeout, retries={"total_max_attempts": 1}
    )
    providers: dict[str, Any] = {}

    def read(ref: SecretRef, fresh: bool) -> str:
        try:
            provider = providers.get(ref.service)
            if provider is None:
                kind = SecretsProvider if ref.service == "secretsmanager" else SSMProvider
                provider = providers[ref.service] = kind(boto_config=config)
            kwargs: dict[str, Any] = {"decrypt": True} if ref.service == "ssm" else {}
            value = provider.get(ref.id, force_fetch=fresh, **kwargs)
        except GetParameterError as exc:
            cause = exc.__cause__ or exc.__context__
            code = getattr(cause, "response", {}).get("Error", {}).get("Code")
            reason = code or type(cause or exc).__name__
            raise SecretUnavailable(f"{ref}: could not be read ({reason})") from None
        except Exception as exc:  # botocore's credential and endpoint errors
            raise SecretUnavailable(f"{ref}: could not be read ({type(exc).__name__})") from None
        if not isinstance(value, str):
            raise SecretUnavailable(f"{ref}: holds no text value")
        return value

    return read


@dataclass(frozen=True, slots=True)
class Reread(Generic[T]):
    """What `Secret.rejected` found."""

    value: T | None  # what the secret holds now, if not what was refused
    unavailable: SecretUnavailable | None = None  # the read that was tried failed


class Secret(Generic[T]):
    """One secret of this process: read at INIT, kept, and read again only after a refusal
    (`rejected`), at most once per back-off window."""

    def __init__(
        self,
        name: str,
        ref: SecretRef,
        parse: Callable[[str], T],
        reader: Callable[[], Reader],
        backoff: Backoff,
    ) -> None:
        self.name = name  # "database", "admin key": what log lines call it
        self.ref = ref
        self._parse = parse
        self._make_reader = reader
        self._reader: Reader | None = None
        self._backoff = backoff
        self._lock = threading.Lock()
        self._value: T | None = None
        self._read_at = float("-inf")
        self.error: str | None = None
        self.reads = 0  # calls to the store (the extension or the SDK), counted
        self.import_ms = 0.0  # what making the client cost (its imports), at the first read
        self.read_ms = 0.0  # the last read's round trip

    @property
    def value(self) -> T | None:
        """The value in memory, or None before a successful read."""
        return self._value

    def load(self) -> T | None:
        """INIT: read now, or log why not (never raises: INIT completes either way)."""
        try:
            return self.get()
        except SecretUnavailable:
            return None

    def get(self) -> T:
        """The value in memory; read first if there is none yet and the back-off allows."""
        value = self._value
        if value is not None:
            return value
        with self._lock:
            if self._value is not None:
                return self._value
            if not self._backoff.ready():
                raise SecretUnavailable(
                    self.error or f"{self.ref}: not read yet", self._backoff.retry_after()
                )
            try:
                value = self._read(fresh=False)
            except SecretUnavailable as exc:
                self._backoff.failed()
                exc.retry_after = self._backoff.retry_after()
                raise
            self._backoff.succeeded()
            return value

    def rejected(self, value: T) -> Reread[T]:
        """`value` was refused. Read the secret again, bypassing every cache, unless the
        back-off says not yet or it was read under a window ago; `Reread.value` is what it
        holds now if that differs (the caller retries with it), else None (the caller
        fails this request as it would have)."""
        with self._lock:
            current = self._value
            if current is not None and current != value:
                return Reread(current)  # another thread read it again meanwhile
            if not self._backoff.ready():
                return Reread(None)
            self._backoff.failed()  # the window starts now, whatever this read brings
            if self._backoff.clock() - self._read_at < self._backoff.first:
                logger.warning(
                    "secret refused just after it was read; not read again yet",
                    extra={"secret": str(self.ref), "retry_in_s": self._backoff.retry_after()},
                )
                return Reread(None)
            try:
                fresh = self._read(fresh=True)
            except SecretUnavailable as exc:
                exc.retry_after = self._backoff.retry_after()
                return Reread(None, unavailable=exc)
            changed = fresh != value
            logger.warning(
                "secret refused and read again",
                extra={"secret": str(self.ref), "changed": changed},
            )
            return Reread(fresh if changed else None)

    def accepted(self) -> None:
        """What `get` or `rejected` returned worked: later refusals read again at once."""
        if self._backoff.failures:  # the warm path: no lock
            with self._lock:
                self._backoff.succeeded()

    def _read(self, fresh: bool) -> T:
        self.reads += 1
        try:
            try:
                if self._reader is None:
                    started = time.perf_counter()
                    self._reader = self._make_reader()  # the client's imports, once
                    self.import_ms = (time.perf_counter() - started) * 1000
                started = time.perf_counter()
                value = self._parse(self._reader(self.ref, fresh))
                self.read_ms = (time.perf_counter() - started) * 1000
            except SecretUnavailable:
                raise
            except Exception as exc:  # the client itself failed (not installed, misconfigured)
                raise SecretUnavailable(
                    f"{self.ref}: the secrets client failed ({type(exc).__name__})"
                ) from None
        except SecretUnavailable as exc:
            self.error = str(exc)
            logger.error(
                "secret could not be read",
                extra={"secret": str(self.ref), "of": self.name, "reason": str(exc)},
            )
            raise
        self._value, self._read_at, self.error = value, self._backoff.clock(), None
        logger.info(
            "secret read",
            extra={"secret": str(self.ref), "of": self.name, "read_ms": round(self.read_ms, 1)},
        )
        return value


_POSTGRES_ENGINES = ("postgres", "postgresql", "aurora-postgresql")
# What a URL in a secret may add: TLS and session targeting.
_URL_OPTIONS = frozenset(
    {"sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "channel_binding"}
    | {"target_session_attrs", "gssencmode"}
)


def _url_or_none(text: str) -> URL | None:
    try:
        return make_url(text)
    except (ArgumentError, ValueError):
        return None


def _rds_json(ref: SecretRef, text: str, host: str | None) -> dict[str, Any]:
    document = _loads(text)
    if not isinstance(document, dict):
        raise SecretUnavailable(f"{ref}: not valid JSON")
    required = ("username", "password") if host else ("username", "password", "host")
    missing = [k for k in required if not document.get(k)]
    if missing:
        raise SecretUnavailable(f"{ref}: the secret has no {', '.join(missing)}")
    engine = document.get("engine", "postgres")
    if engine not in _POSTGRES_ENGINES:
        raise SecretUnavailable(f"{ref}: engine {engine!r} is not PostgreSQL")
    port = document.get("port") or 5432
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if not isinstance(port, int) or isinstance(port, bool):
        raise SecretUnavailable(f"{ref}: port is not a number")
    return {
        "user": str(document["username"]),
        "password": str(document["password"]),
        "host": str(document.get("host")),
        "port": port,
        "dbname": str(document.get("dbname") or "postgres"),
    }


def _postgresql_url(ref: SecretRef, text: str) -> dict[str, Any]:
    url = _url_or_none(text)
    if url is None:
        raise SecretUnavailable(f"{ref}: neither RDS JSON nor a database URL")
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise SecretUnavailable(f"{ref}: the URL is not a PostgreSQL one")
    params = url.translate_connect_args(username="user", database="dbname")
    for key, option in url.query.items():
        # Only TLS and session targeting, each given once: nothing that could replace the
        # statement timeout or the connect timeout.
        if key not in _URL_OPTIONS or not isinstance(option, str):
            raise SecretUnavailable(f"{ref}: the URL option {key!r} is not supported")
        params[key] = option
    return params


def database_params(
    ref: SecretRef, host: str | None, name: str | None = None
) -> Callable[[str], dict[str, Any]]:
    """The parser of a database secret: psycopg's connect() keywords, from the RDS JSON
    shape (username, password, host, port, dbname, optional engine) or a PostgreSQL URL.
    `host` and `name`, when set, replace the secret's: an RDS-managed master secret holds
    only username and password, and an RDS Proxy has a host of its own."""

    def parse(text: str) -> dict[str, Any]:
        text = text.strip()
        params = _rds_json(ref, text, host) if text.startswith("{") else _postgresql_url(ref, text)
        if host:
            params["host"] = host
        if name:
            params["dbname"] = name
        return params

    return parse


def api_key(ref: SecretRef, name: str = "admin key") -> Callable[[str], str]:
    """The parser of a bearer key's secret (`name`: what errors call it)."""

    def parse(text: str) -> str:
        key = text.strip()
        if len(key) < 16:
            raise SecretUnavailable(f"{ref}: the {name} is shorter than 16 characters")
        return key

    return parse


def _reader_for(config: Settings) -> Callable[[], Reader]:
    """The client, made at the first read and shared by every secret of the process."""
    timeout = float(config.secrets_timeout_seconds)
    make = sdk_reader if config.secrets_client == "sdk" else extension_reader
    return functools.cache(lambda: make(timeout))


class Secrets(NamedTuple):
    """This process's secrets, as configured (None: not by reference)."""

    database: Secret[dict[str, Any]] | None
    admin: Secret[str] | None
    orders: Secret[str] | None


def secrets_of(config: Settings) -> Secrets:
    """This process's database, admin-key and orders-key secrets, as configured."""
    reader = _reader_for(config)
    database = None
    first, most = config.cache_retry_seconds, config.cache_retry_max_seconds
    if config.database_secret is not None:
        ref = config.database_secret
        database = Secret(
            "database",
            ref,
            database_params(ref, config.database_host, config.database_name),
            reader,
            # Like the cache's revalidation: doubling while the refusals go on.
            Backoff(first, most, time.monotonic),
        )
    keys: dict[str, Secret[str] | None] = {}
    for name, key_ref in (
        ("admin key", config.admin_api_key_secret),
        ("orders key", config.orders_api_key_secret),
    ):
        keys[name] = None
        if key_ref is not None:
            # A fixed window: anyone can send a wrong key, and must not be able to stretch
            # the wait before a rotated key is read.
            window = Backoff(first, first, time.monotonic)
            keys[name] = Secret(name, key_ref, api_key(key_ref, name), reader, window)
    return Secrets(database, keys["admin key"], keys["orders key"])


def database_url(config: Settings) -> str:
    """The URL to connect with, for what opens its own engine (the migrate function,
    Alembic): the plain one, or one built from the database secret, read now."""
    secret = secrets_of(config).database
    if secret is None:
        return config.database_url.get_secret_value()
    params = dict(secret.get())
    url = URL.create(
        "postgresql+psycopg",
        username=params.pop("user"),
        password=params.pop("password"),
        host=params.pop("host"),
        port=params.pop("port", None),
        database=params.pop("dbname", None),
        query={k: str(v) for k, v in params.items()},
    )
    return url.render_as_string(hide_password=False)
