"""The declarative base, the engine factory, and `Database`: an engine with its sessions and
lanes. Nothing is built here; app/init.py builds this process's one `Database`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from starlette.types import Scope

from app.kit.lanes import Lanes
from app.kit.logs import logger
from app.kit.runtime import count_statement
from app.kit.secrets import Secret, SecretUnavailable
from app.kit.settings import Settings

T = TypeVar("T")
R = TypeVar("R")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def build_engine(config: Settings, secret: Secret[dict[str, Any]] | None = None) -> Engine:
    """A sync engine sized for one environment: Lambda serves one request at a time.

    With credentials by reference (`secret`), the URL names only the driver: each new
    connection takes host, user and password from the secret (see `_connect_with`).
    """
    url = "postgresql+psycopg://" if secret else config.database_url.get_secret_value()
    connect_args: dict[str, Any]
    if config.is_sqlite:
        # Orders run in FastAPI's worker threads; pysqlite's same-thread check would refuse.
        connect_args = {"check_same_thread": False, "timeout": config.db_connect_timeout_seconds}
    else:
        connect_args = {
            "connect_timeout": config.db_connect_timeout_seconds,
            "application_name": "refdata",
        }
        if config.db_statement_timeout_ms:
            # A hung query becomes an error (503) instead of a Lambda timeout.
            connect_args["options"] = f"-c statement_timeout={config.db_statement_timeout_ms}"
    built = create_engine(
        url,
        pool_size=config.db_pool_size,
        max_overflow=config.db_max_overflow,
        pool_pre_ping=config.db_pool_pre_ping,
        pool_recycle=config.db_pool_recycle_seconds,
        pool_timeout=config.queue_timeout_seconds,
        connect_args=connect_args,
    )
    if secret is not None:
        event.listen(built, "do_connect", _connect_with(secret))
    return built


def login_refused(error: Exception) -> bool:
    """PostgreSQL refused the credentials (SQLSTATE 28P01 / 28000). libpq reports a failed
    login before any session exists, so psycopg carries no SQLSTATE then: the server's
    message says it, in the server's `lc_messages` language, English on RDS and Aurora
    (another language: a rotated password is seen only after a restart of the process)."""
    text = str(error)
    return getattr(error, "sqlstate", None) in ("28P01", "28000") or (
        "password authentication failed" in text or "PAM authentication failed" in text
    )


def _connect_with(secret: Secret[dict[str, Any]]) -> Any:
    """The engine's `do_connect`: open a connection with the secret's credentials.

    A refused login (the password was rotated since INIT) reads the secret again, bypassing
    every cache, and retries this one connection once with what it holds now; the back-off
    keeps a secret that stays wrong to one read per window. A secret that cannot be read is
    the driver's OperationalError, so it is answered like a database that is down: 503 with
    Retry-After, stale-if-error for reference reads.
    """

    def connect(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        errors = dialect.loaded_dbapi
        try:
            params = secret.get()
        except SecretUnavailable as exc:
            raise errors.OperationalError(f"database credentials unavailable: {exc}") from None
        try:
            connection = dialect.connect(*cargs, **{**cparams, **params})
        except errors.OperationalError as exc:
            if not login_refused(exc):
                raise
            logger.warning("database login refused", extra={"secret": str(secret.ref)})
            fresh = secret.rejected(params).value
            if fresh is None:
                raise
            connection = dialect.connect(*cargs, **{**cparams, **fresh})
        secret.accepted()
        return connection

    return connect


class Database:
    """This process's engine (statements counted per request), its sessions, and the lanes
    a request's SQL runs in."""

    def __init__(self, config: Settings, secret: Secret[dict[str, Any]] | None = None) -> None:
        self.engine = build_engine(config, secret)
        event.listen(self.engine, "before_cursor_execute", count_statement)
        # expire_on_commit=False: what a unit of work wrote is read after its commit.
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # One lane per connection the pool can give: a request holds a connection only while
        # its unit of work runs in its lane (app/kit/lanes.py), never while it waits for a
        # thread. SQLite takes one writer at a time, and its busy handler is not fair to
        # writers that wait on the file lock: there, one lane, and the requests queue in the
        # app instead.
        self.lanes = Lanes(
            "database",
            1 if config.is_sqlite else config.db_pool_size + config.db_max_overflow,
            config.queue_timeout_seconds,
        )

    def unit_of_work(self, work: Callable[[Session], T]) -> T:
        """The one place that commits: `work(session)`, then commit; rollback on any error.
        The connection goes back to the pool before this returns."""
        with self.sessions() as session:
            try:
                result = work(session)
            except BaseException:
                session.rollback()
                raise
            session.commit()
        return result

    def _encoded(self, work: Callable[[Session], T], encode: Callable[[T], R]) -> R:
        return encode(self.unit_of_work(work))

    async def in_session(
        self, scope: Scope, work: Callable[[Session], T], encode: Callable[[T], R]
    ) -> R:
        """`encode(unit_of_work(work))` in a database lane: a worker thread under uvicorn,
        inline for a request served alone (Lambda). The connection is back in the pool
        before `encode` (the response's JSON, say) runs."""
        return await self.lanes.run(scope, self._encoded, work, encode)
