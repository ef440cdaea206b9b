"""Secrets by reference (app/kit/secrets.py), with real parts: moto's Secrets Manager and
SSM on 127.0.0.1, a double of the Parameters and Secrets extension's HTTP protocol in front
of it, PostgreSQL logins that need the password, and the handler under AWS's runtime client.

What a user relies on:
* only the reference is in the environment; the value is read once per process at INIT;
* a rotated password costs one warm environment one read and one retried connection, and
  reference reads never fail meanwhile;
* a secret that stays wrong costs one read per back-off window, not one per invoke;
* a wrong or missing secret at INIT is a database that is down: INIT completes, 503 with
  Retry-After, a log line naming the problem and not the value.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from app.kit.backoff import Backoff
from app.kit.secrets import (
    Secret,
    SecretUnavailable,
    api_key,
    database_params,
    database_url,
    extension_reader,
    sdk_reader,
)
from app.kit.settings import ConfigError, SecretRef, load_settings
from harness import ORDERS_KEY, leaks
from harness.databases import APP_ROLE, Database, migrate
from harness.events import ORDER, http_v2
from harness.http import Reply, as_orders_client, reply
from harness.lambda_runtime import SESSION_TOKEN, RuntimeEmulator, RuntimeProcess
from harness.postgres import libpq_dsn
from harness.processes import run_python
from harness.secrets_double import ExtensionDouble, LocalAws
from tests.conftest import Backend

INIT_TIMEOUT = 60
WINDOW = 3  # REFDATA_CACHE_RETRY_SECONDS of the rotation test: the first back-off window
INVOKE_TIMEOUT = 20


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    local = LocalAws().start()
    yield local
    local.stop()


@pytest.fixture
def extension(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[ExtensionDouble]:
    """The extension as serverless.yml configures it: its own cache off."""
    double = ExtensionDouble(aws, SESSION_TOKEN, cache_enabled=False).start()
    for name, value in double.env().items():
        monkeypatch.setenv(name, value)
    yield double
    double.stop()


def unique(name: str) -> str:
    return f"refdata/test/{name}-{uuid.uuid4().hex[:8]}"


def secret_of(ref: SecretRef, reader: Any, clock: Clock, parse: Any = str) -> Secret[Any]:
    return Secret("test", ref, parse, reader, Backoff(1, 8, clock))


# References and settings.


@pytest.mark.parametrize(
    ("text", "service", "shown"),
    [
        ("refdata/prod/database", "secretsmanager", "secretsmanager:refdata/prod/database"),
        (
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:refdata/prod/db-AbCdEf",
            "secretsmanager",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:refdata/prod/db-AbCdEf",
        ),
        ("ssm:/refdata/prod/admin-key", "ssm", "ssm:/refdata/prod/admin-key"),
        (
            "arn:aws:ssm:eu-west-1:123456789012:parameter/refdata/prod/admin-key",
            "ssm",
            "arn:aws:ssm:eu-west-1:123456789012:parameter/refdata/prod/admin-key",
        ),
    ],
)
def test_a_reference_is_an_arn_a_name_or_ssm_name(text: str, service: str, shown: str) -> None:
    ref = SecretRef.parse(text)
    assert ref.service == service
    assert str(ref) == shown


@pytest.mark.parametrize(
    "text", ["arn:aws:s3:::bucket", "ssm:", "two words", "arn:aws:secretsmanager:eu-west-1:1:x"]
)
def test_a_malformed_reference_fails_at_import_naming_the_variable(text: str) -> None:
    result = run_python(
        "import app.init",  # INIT parses the settings first
        {"REFDATA_DATABASE_SECRET": text, "REFDATA_DATABASE_URL": ""},
    )
    assert result.returncode != 0
    assert "REFDATA_DATABASE_SECRET" in result.stderr


def test_a_url_and_a_secret_together_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFDATA_DATABASE_SECRET", "refdata/prod/database")
    with pytest.raises(ConfigError, match="REFDATA_DATABASE_SECRET or REFDATA_DATABASE_URL"):
        load_settings()  # REFDATA_DATABASE_URL is the test database's
    monkeypatch.setenv("REFDATA_DATABASE_URL", "")  # what serverless.yml passes: unset
    settings = load_settings()
    assert settings.database_secret == SecretRef("secretsmanager", "refdata/prod/database")
    assert not settings.is_sqlite
    monkeypatch.setenv("REFDATA_ADMIN_API_KEY_SECRET", "ssm:/refdata/prod/admin-key")
    with pytest.raises(ConfigError, match="REFDATA_ADMIN_API_KEY_SECRET or REFDATA_ADMIN_API_KEY"):
        load_settings()  # REFDATA_ADMIN_API_KEY is set for the suite


# What a database secret may hold.

REF = SecretRef("secretsmanager", "refdata/test/db")


def test_the_rds_json_shape_gives_the_connection_parameters() -> None:
    parse = database_params(REF, None)
    document = {
        "username": "refdata",
        "password": "pw-" + "x" * 20,
        "host": "db.internal",
        "port": 5433,
        "dbname": "refdata",
        "engine": "postgres",
    }
    assert parse(json.dumps(document)) == {
        "user": "refdata",
        "password": document["password"],
        "host": "db.internal",
        "port": 5433,
        "dbname": "refdata",
    }
    # An RDS Proxy endpoint replaces the instance the secret names; the port defaults.
    del document["port"]
    proxied = database_params(REF, "proxy.internal")(json.dumps(document))
    assert (proxied["host"], proxied["port"]) == ("proxy.internal", 5432)
    # An RDS-managed master secret holds the login only: host and database come from
    # REFDATA_DATABASE_HOST and REFDATA_DATABASE_NAME.
    managed = json.dumps({"username": "postgres", "password": document["password"]})
    with pytest.raises(SecretUnavailable, match="has no host"):
        database_params(REF, None)(managed)
    params = database_params(REF, "db.internal", "refdata")(managed)
    assert (params["host"], params["dbname"], params["user"]) == (
        "db.internal",
        "refdata",
        "postgres",
    )


def test_a_url_in_a_secret_works_too() -> None:
    params = database_params(REF, None)("postgresql://refdata:pw-url-123456@db.internal/refdata")
    assert params == {
        "user": "refdata",
        "password": "pw-url-123456",
        "host": "db.internal",
        "dbname": "refdata",
    }


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"username": "u", "host": "h", "password": ""}', "has no password"),
        ('{"username": "u", "password": "pw-hidden-1", "host": "h", "engine": "mysql"}', "mysql"),
        ('{"username": "u", "password": "pw-hidden-2", "host": "h", "port": "x"}', "port"),
        ('{"username": "u", "password": "pw-hidden-3"', "not valid JSON"),
        ("mysql://u:pw-hidden-4@h/db", "not a PostgreSQL one"),
        ("pw-hidden-5", "neither RDS JSON nor a database URL"),
        # An option that would replace the statement timeout, or one given twice.
        ("postgresql://u:pw-hidden-6@h/db?options=-c%20statement_timeout%3D0", "'options'"),
        ("postgresql://u:pw-hidden-7@h/db?sslmode=require&sslmode=disable", "'sslmode'"),
    ],
)
def test_an_unusable_secret_says_why_without_its_value(text: str, reason: str) -> None:
    with pytest.raises(SecretUnavailable, match=reason) as caught:
        database_params(REF, None)(text)
    assert "pw-hidden" not in str(caught.value)
    assert str(REF) in str(caught.value)


def test_the_back_off_stops_at_its_ceiling_however_long_the_outage() -> None:
    backoff = Backoff(2, 60, Clock())
    delays = [backoff.failed() for _ in range(5000)]  # 83 hours at the ceiling
    assert delays[:7] == [2, 4, 8, 16, 32, 60, 60]
    assert delays[-1] == 60


def test_a_password_with_url_characters_survives_the_migrate_url(
    aws: LocalAws, extension: ExtensionDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import make_url

    password = "p%@:/\"'\\ x?#&=" + uuid.uuid4().hex
    leaks.register("a database password", password)
    document = {"username": "u", "password": password, "host": "db.internal", "dbname": "d"}
    arn = aws.create_secret(unique("url-characters"), json.dumps(document))
    monkeypatch.setenv("REFDATA_DATABASE_SECRET", arn)
    monkeypatch.setenv("REFDATA_DATABASE_URL", "")
    url = make_url(database_url(load_settings()))
    assert (url.password, url.host, url.database) == (password, "db.internal", "d")


def test_an_admin_key_must_be_long_enough() -> None:
    with pytest.raises(SecretUnavailable, match="shorter than 16"):
        api_key(REF)("short-key")
    assert api_key(REF)("  a-long-enough-admin-key\n") == "a-long-enough-admin-key"


# Reading through the extension.


def test_read_once_then_again_only_when_refused_and_at_most_once_per_window(
    aws: LocalAws, extension: ExtensionDouble
) -> None:
    name = unique("key")
    first, second = "value-one-" + uuid.uuid4().hex, "value-two-" + uuid.uuid4().hex
    leaks.register("a test secret", first, second)
    arn = aws.create_secret(name, first)
    clock = Clock()
    secret = secret_of(SecretRef.parse(arn), lambda: extension_reader(2.0), clock)

    assert secret.get() == first
    assert secret.get() == first
    assert (len(extension.requests), extension.upstream, secret.reads) == (1, 1, 1)
    assert extension.requests[0].startswith("/secretsmanager/get?secretId=arn%3Aaws")

    # Refused right after it was read: reading again would bring the same value.
    assert secret.rejected(first).value is None
    assert secret.reads == 1
    clock.now += 1  # the window (1 s) has passed: read again, unchanged
    assert secret.rejected(first).value is None
    assert secret.reads == 2
    aws.put_secret(arn, second)  # rotated meanwhile
    clock.now += 1  # inside the doubled window (2 s): nothing is read
    assert secret.rejected(first).value is None
    assert secret.reads == 2
    clock.now += 1  # past it: read again, bypassing every cache, and it has changed
    assert secret.rejected(first).value == second
    assert secret.reads == 3
    assert extension.upstream == 3  # each read reached Secrets Manager
    secret.accepted()
    assert secret.get() == second
    assert secret.reads == 3


def read_then_rotate(aws: LocalAws, reader: Any) -> tuple[Secret[Any], str | None, str]:
    """A secret read, then rotated, then refused past the back-off: the secret, what it
    read again (None: nothing new), and the rotated value."""
    old, new = "before-" + uuid.uuid4().hex, "after-" + uuid.uuid4().hex
    leaks.register("a test secret", old, new)
    arn = aws.create_secret(unique("rotated"), old)
    clock = Clock()
    secret = secret_of(SecretRef.parse(arn), reader, clock)
    assert secret.get() == old
    aws.put_secret(arn, new)
    clock.now += 5
    return secret, secret.rejected(old).value, new


def test_with_the_extension_cache_on_a_read_after_rotation_would_be_stale(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why serverless.yml turns the extension's cache off: it cannot be bypassed."""
    caching = ExtensionDouble(aws, SESSION_TOKEN, cache_enabled=True).start()
    try:
        for name, value in caching.env().items():
            monkeypatch.setenv(name, value)
        secret, reread, _ = read_then_rotate(aws, lambda: extension_reader(2.0))
        assert reread is None  # the extension answered from its cache
        assert (secret.reads, caching.upstream) == (2, 1)
    finally:
        caching.stop()


def test_an_ssm_secure_string_is_read_decrypted(aws: LocalAws, extension: ExtensionDouble) -> None:
    name = "/" + unique("admin-key")
    key = "ssm-admin-key-" + uuid.uuid4().hex
    leaks.register("a test admin key", key)
    aws.put_parameter(name, key)
    secret = secret_of(SecretRef.parse("ssm:" + name), lambda: extension_reader(2.0), Clock())
    assert secret.get() == key
    assert "withDecryption=true" in extension.requests[-1]


def test_read_failures_name_the_reference_and_the_cause(
    aws: LocalAws, extension: ExtensionDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    missing = SecretRef.parse(unique("missing"))
    secret = secret_of(missing, lambda: extension_reader(2.0), clock)
    with pytest.raises(SecretUnavailable, match="answered 400 \\(ResourceNotFoundException\\)"):
        secret.get()
    with pytest.raises(SecretUnavailable) as caught:  # backing off: not read again yet
        secret.get()
    assert secret.reads == 1
    assert caught.value.retry_after == 1
    assert str(missing) in str(caught.value)

    monkeypatch.setenv("AWS_SESSION_TOKEN", "not-the-session-token")
    with pytest.raises(SecretUnavailable, match="answered 401"):
        extension_reader(2.0)(missing, False)
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    with pytest.raises(SecretUnavailable, match="AWS_SESSION_TOKEN is not set"):
        extension_reader(2.0)(missing, False)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    port = extension.port
    extension.stop()
    monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(port))
    with pytest.raises(SecretUnavailable, match=f"localhost:{port} did not answer"):
        extension_reader(2.0)(missing, False)
    # A client that cannot even be made is a secret that cannot be read, not a crash.
    monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "not-a-port")
    broken = secret_of(missing, lambda: extension_reader(2.0), clock)
    with pytest.raises(SecretUnavailable, match="the secrets client failed \\(ValueError\\)"):
        broken.get()
    assert broken.load() is None


# Reading with the SDK (Powertools Parameters on boto3).


def test_the_sdk_reads_and_bypasses_its_cache_when_refused(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in aws.sdk_env().items():
        monkeypatch.setenv(name, value)
    _, reread, new = read_then_rotate(aws, lambda: sdk_reader(2.0))
    assert reread == new  # force_fetch: Powertools' own cache bypassed
    missing = secret_of(SecretRef.parse(unique("absent")), lambda: sdk_reader(2.0), Clock())
    with pytest.raises(SecretUnavailable, match="ResourceNotFoundException"):
        missing.get()


# The function, under AWS's runtime client.

ROLE = "refdata_rotating"


def lines(process: RuntimeProcess, message: str) -> list[dict[str, Any]]:
    return [e for e in process.json_lines() if e.get("message") == message]


def call(runtime: RuntimeEmulator, method: str, path: str, **headers: str) -> Reply:
    """One invoke; a POST to /orders carries the sample order, and /orders the test session's
    orders key unless `headers` has an authorization of its own."""
    body = ORDER if method == "POST" and path.startswith("/orders") else None
    if body is not None:
        headers = {"content-type": "application/json", **headers}
    event = http_v2(method, path, as_orders_client(path, headers), body)
    return reply(runtime.invoke(event, INVOKE_TIMEOUT))


def rds_secret(database: Database, password: str, user: str = ROLE) -> str:
    from sqlalchemy import make_url

    url = make_url(database.url)
    return json.dumps(
        {
            "engine": "postgres",
            "username": user,
            "password": password,
            "host": url.host,
            "port": url.port,
            "dbname": url.database,
        }
    )


def superuser(database: Database, sql: str, *params: str) -> None:
    assert database.admin_url is not None
    with psycopg.connect(libpq_dsn(database.admin_url), autocommit=True) as conn:
        conn.execute(sql.encode(), params or None)


def cut_connections(database: Database) -> None:
    """What a failover or a server restart does to the environment's open connection."""
    superuser(
        database, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", ROLE
    )


@pytest.fixture
def login_database(backend: Backend) -> Database:
    """A migrated database whose role logs in with a password, as on RDS."""
    if backend.server is None:
        pytest.skip("runs in the --db=postgresql session")
    database = backend.new_database()
    migrate(database.url)
    backend.admin(f"DROP ROLE IF EXISTS {ROLE}")
    backend.admin(f"CREATE ROLE {ROLE} LOGIN PASSWORD 'unset' IN ROLE {APP_ROLE}")
    backend.server.require_password(ROLE)
    return database


def spawn(
    runtime: RuntimeEmulator, extension: ExtensionDouble | None, **env: str
) -> RuntimeProcess:
    environment = {"REFDATA_LOG_LEVEL": "INFO", "REFDATA_CACHE_RETRY_SECONDS": "1", **env}
    if "REFDATA_ORDERS_API_KEY_SECRET" not in env:
        environment["REFDATA_ORDERS_API_KEY"] = ORDERS_KEY
    if extension is not None:
        environment |= extension.env()
    process = runtime.spawn(env=environment)
    runtime.wait_ready(INIT_TIMEOUT)
    return process


def test_a_rotated_password_costs_one_read_and_one_retried_connection(
    aws: LocalAws, extension: ExtensionDouble, login_database: Database
) -> None:
    passwords = [f"pw-{n}-" + uuid.uuid4().hex for n in range(3)]
    keys = [f"admin-key-{n}-" + uuid.uuid4().hex for n in range(2)]
    orders_keys = [f"orders-key-{n}-" + uuid.uuid4().hex for n in range(2)]
    leaks.register("a database password", *passwords, *keys, *orders_keys)
    superuser(login_database, f"ALTER ROLE {ROLE} PASSWORD '{passwords[0]}'")
    arn = aws.create_secret(unique("database"), rds_secret(login_database, passwords[0]))
    key_name = "/" + unique("admin-key")
    aws.put_parameter(key_name, keys[0])
    orders_key_name = "/" + unique("orders-key")
    aws.put_parameter(orders_key_name, orders_keys[0])
    ordering = {"authorization": f"Bearer {orders_keys[0]}"}

    with RuntimeEmulator() as runtime:
        process = spawn(
            runtime,
            extension,
            REFDATA_DATABASE_SECRET=arn,
            REFDATA_ADMIN_API_KEY_SECRET="ssm:" + key_name,
            REFDATA_ORDERS_API_KEY_SECRET="ssm:" + orders_key_name,
            # Windows long enough that the calls meant to fall inside one do, on a busy
            # machine too.
            REFDATA_CACHE_RETRY_SECONDS=str(WINDOW),
        )
        (init,) = lines(process, "init complete")
        assert init["cache_loaded"] is True
        # The database secret, the admin key and the orders key, once each.
        assert len(extension.requests) == 3

        def reads_never_fail() -> None:
            answer = call(runtime, "GET", "/countries/VN")
            assert answer.status == 200, answer.body

        reads_never_fail()
        assert call(runtime, "POST", "/orders", **ordering).status == 201

        # Rotation: the role's password changes and the secret gets the new one. The open
        # connection is not affected (PostgreSQL checks a password at login only).
        superuser(login_database, f"ALTER ROLE {ROLE} PASSWORD '{passwords[1]}'")
        aws.put_secret(arn, rds_secret(login_database, passwords[1]))
        assert call(runtime, "POST", "/orders", **ordering).status == 201
        assert len(extension.requests) == 3

        # The connection is cut: the next login, with the password read at INIT, is
        # refused; the secret is read again and that one connection retried, once.
        time.sleep(WINDOW + 0.1)  # a value read under a window ago is not read again
        cut_connections(login_database)
        reads_never_fail()
        answer = call(runtime, "POST", "/orders", **ordering)
        assert answer.status == 201, process.lines()[-8:]
        assert len(extension.requests) == 4
        (refused,) = lines(process, "database login refused")
        (reread,) = lines(process, "secret refused and read again")
        assert reread["changed"] is True
        assert refused["secret"] == reread["secret"] == arn

        # A password changed before the secret (a rotation half done): one read finds the
        # same value, then the back-off keeps further logins from reading it again.
        time.sleep(WINDOW + 0.1)  # past "just read"
        superuser(login_database, f"ALTER ROLE {ROLE} PASSWORD '{passwords[2]}'")
        cut_connections(login_database)
        for _ in range(3):
            answer = call(runtime, "POST", "/orders", **ordering)
            assert answer.status == 503, answer.body
            assert answer.headers["retry-after"]
            assert answer.json()["type"] == "urn:refdata:problem:database-unavailable"
            reads_never_fail()
        assert len(extension.requests) == 5  # one read for three refused logins
        aws.put_secret(arn, rds_secret(login_database, passwords[2]))
        time.sleep(WINDOW + 0.1)  # the back-off's first window
        assert call(runtime, "POST", "/orders", **ordering).status == 201
        assert len(extension.requests) == 6

        # The admin key and the orders key, rotated: the same rules for both.
        reads = 6
        for name, kept, path, rotated in (
            (key_name, keys, "/admin/cache/refresh", "admin"),
            (orders_key_name, orders_keys, "/orders/quote", "orders"),
        ):
            reads = key_rotation(
                runtime, extension, aws=aws, name=name, keys=kept, path=path, reads=reads
            )
            assert reads == len(extension.requests), rotated
            reads_never_fail()


def key_rotation(
    runtime: RuntimeEmulator,
    extension: ExtensionDouble,
    *,
    aws: LocalAws,
    name: str,
    keys: list[str],
    path: str,
    reads: int,
) -> int:
    """A bearer key kept in SSM parameter `name`, rotated from keys[0] to keys[1]: the new key
    is read once, on its first use; the old one is refused without another read until the
    (fixed) back-off window has passed, then with one. Returns the extension's reads."""

    def status(key: str) -> int:
        return call(runtime, "POST", path, authorization=f"Bearer {key}").status

    ok = 201 if path == "/orders" else 200
    assert status(keys[0]) == ok
    aws.put_parameter(name, keys[1])
    assert status(keys[1]) == ok
    assert len(extension.requests) == reads + 1
    # The old key, just after: the key was read under a window ago, so it is refused
    # without another read, however often it is sent. After the window, one more read, and
    # still 403.
    for _ in range(3):
        assert status(keys[0]) == 403
    assert len(extension.requests) == reads + 1
    time.sleep(WINDOW + 0.1)
    for _ in range(3):
        assert status(keys[0]) == 403
    assert len(extension.requests) == reads + 2
    return reads + 2


def test_reads_are_served_stale_while_the_login_is_refused(
    aws: LocalAws, extension: ExtensionDouble, login_database: Database
) -> None:
    """Stale-if-error, with a secret that stopped working: the revalidation's login is
    refused, the snapshot is served past its TTL, /health says so."""
    password, changed = ("pw-stale-" + uuid.uuid4().hex for _ in range(2))
    leaks.register("a database password", password, changed)
    superuser(login_database, f"ALTER ROLE {ROLE} PASSWORD '{password}'")
    arn = aws.create_secret(unique("stale"), rds_secret(login_database, password))
    with RuntimeEmulator() as runtime:
        spawn(runtime, extension, REFDATA_DATABASE_SECRET=arn, REFDATA_CACHE_TTL_SECONDS="1")
        assert call(runtime, "GET", "/countries/VN").status == 200
        superuser(login_database, f"ALTER ROLE {ROLE} PASSWORD '{changed}'")
        cut_connections(login_database)
        time.sleep(1.2)  # past the TTL: the next read revalidates, and its login is refused
        for _ in range(3):
            answer = call(runtime, "GET", "/countries/VN")
            assert answer.status == 200, answer.body
        health = call(runtime, "GET", "/health").json()
        assert health["status"] == "stale"
        assert health["counters"]["failures"] >= 1
        assert health["counters"]["stale"] >= 1
        assert call(runtime, "POST", "/orders").status == 503


@pytest.mark.parametrize(
    ("case", "logged"),
    [
        ("missing", "ResourceNotFoundException"),
        ("malformed", "not valid JSON"),
        ("wrong password", None),
    ],
)
def test_a_bad_secret_at_init_is_a_database_that_is_down(
    aws: LocalAws,
    extension: ExtensionDouble,
    login_database: Database,
    case: str,
    logged: str | None,
) -> None:
    password = "pw-wrong-" + uuid.uuid4().hex
    leaks.register("a database password", password)
    if case == "missing":
        reference = unique("never-created")
    elif case == "malformed":
        reference = aws.create_secret(unique("malformed"), '{"password": "' + password)
    else:
        reference = aws.create_secret(unique("wrong"), rds_secret(login_database, password))

    admin = {"REFDATA_ADMIN_API_KEY_SECRET": reference} if case == "missing" else {}
    with RuntimeEmulator() as runtime:
        # A back-off window longer than the test: every read below is counted exactly.
        process = spawn(
            runtime,
            extension,
            REFDATA_DATABASE_SECRET=reference,
            REFDATA_CACHE_RETRY_SECONDS="30",
            **admin,
        )
        (init,) = lines(process, "init complete")
        assert init["cache_loaded"] is False  # INIT completed all the same
        if admin:  # the admin key cannot be read either: its routes say so
            answer = call(
                runtime, "POST", "/admin/cache/refresh", authorization="Bearer " + "x" * 20
            )
            assert answer.status == 503, answer.body
            assert answer.json()["type"] == "urn:refdata:problem:admin-key-unavailable"
            assert int(answer.headers["retry-after"]) >= 1
        for method, path in (("GET", "/countries/VN"), ("POST", "/orders"), ("GET", "/health")):
            answer = call(runtime, method, path)
            assert answer.status == 503, (path, answer.body)
            assert int(answer.headers["retry-after"]) >= 1
            if path == "/health":
                assert answer.json()["status"] == "unavailable"
            else:
                assert answer.headers["content-type"] == "application/problem+json"
        if logged is not None:
            (failed, *_) = lines(process, "secret could not be read")
            assert logged in failed["reason"]
            assert reference.split(":")[-1] in failed["secret"]
        else:
            assert lines(process, "database login refused")
        # INIT read each secret once; the requests after it, inside the back-off window,
        # read none (a refused login right after the read is not read again either).
        assert len(extension.requests) == (2 if admin else 1)


def test_the_migrate_function_reads_the_secret_too(
    aws: LocalAws, extension: ExtensionDouble, backend: Backend
) -> None:
    if backend.server is None:
        pytest.skip("runs in the --db=postgresql session")
    database = backend.new_database()  # empty: the migrate function creates everything
    password = "pw-migrate-" + uuid.uuid4().hex
    leaks.register("a database password", password)
    role = "refdata_migrator_" + uuid.uuid4().hex[:8]  # it will own the tables it creates
    backend.admin(f"CREATE ROLE {role} LOGIN PASSWORD '{password}' IN ROLE {APP_ROLE}")
    backend.server.require_password(role)
    arn = aws.create_secret(unique("migrate"), rds_secret(database, password, role))
    result = run_python(
        "import json; from app.migrate import handler; print(json.dumps(handler({}, None)))",
        {"REFDATA_DATABASE_SECRET": arn, "REFDATA_DATABASE_URL": ""} | extension.env(),
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert (outcome["from"], outcome["changed"]) == (None, True)
    assert len(extension.requests) == 1


def test_the_sdk_client_imports_boto3_and_the_extension_client_does_not(
    aws: LocalAws, extension: ExtensionDouble, login_database: Database
) -> None:
    password = "pw-sdk-" + uuid.uuid4().hex
    leaks.register("a database password", password)
    superuser(login_database, f"ALTER ROLE {ROLE} PASSWORD '{password}'")
    arn = aws.create_secret(unique("sdk-database"), rds_secret(login_database, password))
    probe = (
        "import sys, app.lambda_handler as h; from app.init import cache; "
        "print(cache.current is not None, 'boto3' in sys.modules, 'botocore' in sys.modules)"
    )
    common = {"REFDATA_DATABASE_SECRET": arn, "REFDATA_DATABASE_URL": ""}
    with_extension = run_python(probe, common | extension.env())
    assert with_extension.stdout.split() == ["True", "False", "False"], with_extension.stderr
    with_sdk = run_python(probe, common | aws.sdk_env() | {"REFDATA_SECRETS_CLIENT": "sdk"})
    assert with_sdk.stdout.split() == ["True", "True", "True"], with_sdk.stderr


def test_the_leak_watch_sees_a_secret_in_a_log_line() -> None:
    """The app's log stream is the checking one, and it finds a registered value in a
    line written to it (written to a buffer here, not to the test's output)."""
    import io

    from app.kit.logs import _Sink
    from tests.conftest import _CheckedStream

    assert _Sink.handler is not None
    checked = _Sink.handler.stream
    assert isinstance(checked, _CheckedStream)
    planted = "planted-" + uuid.uuid4().hex
    leaks.register("a planted value", planted)
    inner, checked._stream = checked._stream, io.StringIO()
    try:
        checked.write(json.dumps({"message": planted}) + "\n")
    finally:
        checked._stream = inner
    assert leaks.take_found() == ["a planted value in a log line"]


def test_the_leak_watch_sees_a_secret_in_a_response() -> None:
    """The suite-wide check (harness/leaks.py) is live: a registered value the app echoes in
    a response is found. (Taken back here, so that this test itself passes.)"""
    from harness.http import invoke

    planted = "planted-" + uuid.uuid4().hex
    leaks.register("a planted value", planted)
    invoke(http_v2("GET", f"/countries/{planted}"))
    found = leaks.take_found()
    assert found, "the 404 names the code it was asked for, so the watch must see it"
    assert all("a planted value in the response to GET /countries/" in f for f in found)
