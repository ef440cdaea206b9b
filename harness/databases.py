"""Throwaway databases, made one way for the tests, the benchmark and the reliability runs:
a SQLite file, or a database on a throwaway PostgreSQL server (harness/postgres.py) owned
by an unprivileged role, with pg_stat_statements; migrated with alembic."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from harness import REPO
from harness.postgres import SUPERUSER, PostgresServer, start_server

# The role the app connects as: it owns its database and nothing else.
APP_ROLE = "refdata_app"


@dataclass(frozen=True)
class Database:
    kind: str  # "sqlite" or "postgresql"
    url: str  # as the app connects
    admin_url: str | None  # PostgreSQL superuser, for server-side counting


class Databases:
    """Makes databases of one kind: SQLite files in a temporary directory, or databases on
    one throwaway PostgreSQL server (started here, destroyed by `close`)."""

    def __init__(self, kind: str) -> None:
        if kind not in ("sqlite", "postgresql"):
            raise ValueError(f"no such database kind: {kind}")
        self.kind = kind
        self.root = Path(tempfile.mkdtemp(prefix="refdata-db-"))
        self.server: PostgresServer | None = None
        if kind == "postgresql":
            try:
                self.server = start_server()  # FileNotFoundError: PostgreSQL not installed
                self.admin(f"CREATE ROLE {APP_ROLE} LOGIN")
            except BaseException:
                self.close()
                raise

    def admin(self, sql: str, database: str = "postgres") -> str:
        """One statement as the PostgreSQL superuser; the first column of its first row."""
        if self.server is None:
            raise RuntimeError("a SQLite database has no server")
        return self.server.admin(sql, database)

    def new(self, *, migrated: bool = True) -> Database:
        """A database nothing else uses, owned by the app role; migrated to head unless
        `migrated` is false (for the migration and INIT tests)."""
        name = "refdata_" + uuid.uuid4().hex[:8]
        if self.server is None:
            database = Database("sqlite", f"sqlite:///{self.root / name}.db", None)
        else:
            self.admin(f"CREATE DATABASE {name} OWNER {APP_ROLE}")
            self.admin("CREATE EXTENSION pg_stat_statements", database=name)
            database = Database(
                "postgresql", self.server.url(name, APP_ROLE), self.server.url(name, SUPERUSER)
            )
        if migrated:
            migrate(database.url)
        return database

    @property
    def server_version(self) -> str:
        return sqlite3.sqlite_version if self.server is None else self.admin("SHOW server_version")

    def close(self) -> None:
        if self.server is not None:
            self.server.destroy()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Databases:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@contextmanager
def throwaway_database(kind: str) -> Iterator[Database]:
    """One migrated database of `kind` that nothing else uses, removed afterwards."""
    with Databases(kind) as databases:
        yield databases.new()


@contextmanager
def table_locked(database: Database, table: str = "customer_order") -> Iterator[None]:
    """Another session holds `table` (SQLite: the whole file) until the block ends: every
    statement on it waits."""
    from sqlalchemy import make_url

    url = make_url(database.url)
    if url.get_backend_name() == "sqlite":
        holder = sqlite3.connect(str(url.database), isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    import psycopg

    from harness.postgres import libpq_dsn

    with psycopg.connect(libpq_dsn(database.admin_url or database.url)) as session:
        session.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE".encode())
        try:
            yield
        finally:
            session.rollback()


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config(str(REPO / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


def migrate(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)
