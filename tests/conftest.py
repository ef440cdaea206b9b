"""Test setup: a migrated database of the chosen backend, fixed before `app` is imported.

`pytest --db=sqlite` (the default) uses a fresh SQLite file; `pytest --db=postgresql` starts
a throwaway PostgreSQL server (harness/postgres.py: pytest-postgresql's executor, 127.0.0.1,
a free port). The app builds its engine and cache at import, so REFDATA_DATABASE_URL is set
in pytest_configure, before any test module is collected: that is why the server is started
there, by the executor pytest-postgresql's `postgresql_proc` fixture wraps, and not by the
fixture, which would start it only when the first test asks for it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import ADMIN_KEY, ORDERS_KEY, leaks
from harness.databases import APP_ROLE, Database, Databases, migrate
from harness.postgres import PostgresServer
from harness.sql import ServerStatements, SqlWindow


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="database backend the app runs against",
    )


class Backend:
    """The database the whole session runs against, and how to make more of them."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.skip_reason: str | None = None
        try:
            self.databases = Databases(kind)
        except FileNotFoundError as exc:
            if os.environ.get("CI") == "true":
                raise pytest.UsageError(f"CI=true requires PostgreSQL: {exc}") from exc
            self.skip_reason = f"PostgreSQL not available: {exc}"
            self.databases = Databases("sqlite")  # only to keep the app importable
            return
        self.main = self.new_database()

    @property
    def server(self) -> PostgresServer | None:
        return self.databases.server

    @property
    def tmp(self) -> Path:
        return self.databases.root

    def admin(self, sql: str, database: str = "postgres") -> None:
        """Run one statement as the PostgreSQL superuser."""
        self.databases.admin(sql, database)

    def new_database(self) -> Database:
        """An empty, unmigrated database the app role owns."""
        return self.databases.new(migrated=False)

    def close(self) -> None:
        self.databases.close()


BACKEND: Backend | None = None


def pytest_configure(config: pytest.Config) -> None:
    global BACKEND  # noqa: PLW0603 -- one backend per session, made before collection
    if config.option.help:
        return
    os.environ.setdefault("REFDATA_LOG_LEVEL", "WARNING")
    os.environ.setdefault("REFDATA_ADMIN_API_KEY", ADMIN_KEY)
    leaks.register("the admin key", os.environ["REFDATA_ADMIN_API_KEY"])
    os.environ.setdefault("REFDATA_ORDERS_API_KEY", ORDERS_KEY)
    leaks.register("the orders key", os.environ["REFDATA_ORDERS_API_KEY"])
    BACKEND = Backend(config.getoption("--db"))
    if BACKEND.skip_reason is None:
        # Set before anything (alembic's env.py included) imports app.kit.settings.
        os.environ["REFDATA_DATABASE_URL"] = BACKEND.main.url
        migrate(BACKEND.main.url)
    else:
        # Still importable (the cache stays cold); every test is skipped below.
        os.environ["REFDATA_DATABASE_URL"] = f"sqlite:///{BACKEND.tmp / 'unused.db'}"


def pytest_unconfigure(config: pytest.Config) -> None:
    if BACKEND is not None:
        BACKEND.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if BACKEND is not None and BACKEND.skip_reason is not None:
        for item in items:
            item.add_marker(pytest.mark.skip(reason=BACKEND.skip_reason))


def pytest_report_header(config: pytest.Config) -> str:
    if BACKEND is None:
        return "database: none"
    if BACKEND.skip_reason:
        return f"database: {BACKEND.kind} SKIPPED ({BACKEND.skip_reason})"
    port = f" on 127.0.0.1:{BACKEND.server.port}" if BACKEND.server else ""
    return f"database: {BACKEND.kind}{port}"


@pytest.fixture(scope="session")
def backend() -> Backend:
    assert BACKEND is not None
    return BACKEND


@pytest.fixture(scope="session")
def database(backend: Backend) -> Database:
    """The migrated database the imported app is connected to."""
    return backend.main


@pytest.fixture(scope="session", autouse=True)
def _app_uses_the_test_database(backend: Backend) -> None:
    # Every count in this suite is meaningless if the app talks to another database.
    from app.init import engine

    if backend.skip_reason is None:
        assert engine.url.render_as_string(hide_password=False) == backend.main.url


class _CheckedStream:
    """The app's log stream, each line checked for secrets on its way (harness/leaks.py)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        leaks.check(text, "a log line")
        return int(self._stream.write(text))

    def flush(self) -> None:
        self._stream.flush()


@pytest.fixture(scope="session", autouse=True)
def _no_secret_leaves_the_app() -> Iterator[None]:
    """Every response of the in-process app and every line of its log is checked, and so
    are uvicorn servers' logs and replies."""
    from app.kit.logs import _Sink
    from app.main import app
    from harness import http, servers

    # Outside Starlette's ServerErrorMiddleware too: a 500 is checked like any response.
    app.middleware_stack = leaks.Watch(app.build_middleware_stack())
    handler = _Sink.handler
    assert handler is not None
    original = handler.setStream(_CheckedStream(handler.stream))
    stop, request = servers.Uvicorn.stop, http.HttpClient.request

    def stop_and_check(self: servers.Uvicorn) -> None:
        stop(self)
        leaks.check(self.log(), f"the log of uvicorn {self.asgi}")

    def request_and_check(self: http.HttpClient, *args: Any, **kwargs: Any) -> Any:
        answer = request(self, *args, **kwargs)
        leaks.check(answer[0].body, "a uvicorn server's reply")
        return answer

    servers.Uvicorn.stop = stop_and_check  # type: ignore[method-assign]
    http.HttpClient.request = request_and_check  # type: ignore[method-assign]
    yield
    servers.Uvicorn.stop, http.HttpClient.request = stop, request  # type: ignore[method-assign]
    if original is not None:
        handler.setStream(original)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """What was seen after the last test's report still fails the run."""
    found = leaks.take_found()
    if found:
        print("\na secret value was seen in " + "; ".join(found))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A test during which a secret value was seen fails, naming where (not the value)."""
    report: pytest.TestReport = yield
    for title, content in report.sections:
        if title.endswith(report.when):  # each phase's own (later reports repeat earlier ones)
            leaks.check(content, f"the test's {title.lower()}")
    found = leaks.take_found()
    if found and report.outcome != "failed":
        report.outcome = "failed"
        report.longrepr = "a secret value was seen in " + "; ".join(found)
    return report


@pytest.fixture(scope="session")
def postgresql_only(database: Database) -> None:
    """For tests that need a real server: stopped, restarted, locked, or watched from inside."""
    if database.kind != "postgresql":
        pytest.skip("runs in the --db=postgresql session")


@pytest.fixture
def blank_database(backend: Backend) -> Database:
    """A new, empty database (not migrated), for migration and INIT tests."""
    return backend.new_database()


@pytest.fixture
def sql() -> Iterator[SqlWindow]:
    """Counts statements and connections the app's engine makes during the test."""
    from app.init import engine

    with SqlWindow(engine) as window:
        yield window


@pytest.fixture
def server_statements(database: Database) -> ServerStatements | None:
    """On PostgreSQL, a server-side statement counter for the app's role; None on SQLite."""
    if database.admin_url is None:
        return None
    counter = ServerStatements(database.admin_url, APP_ROLE)
    counter.reset()
    return counter


@pytest.fixture
def log_to(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], None]:
    """Points refdata's JSON log handler at a stream, at INFO, for the test's duration."""
    from app.kit.logs import JsonFormatter, logger

    def point(stream: Any) -> None:
        monkeypatch.setattr(logger, "level", logger.level)  # restored after the test
        logger.setLevel(logging.INFO)
        for handler in logger.handlers:
            if isinstance(handler.formatter, JsonFormatter):
                monkeypatch.setattr(handler, "stream", stream)

    return point
