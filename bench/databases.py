"""The benchmark's own databases, made the way the tests make theirs.

A SQLite file in a temporary directory, and a throwaway PostgreSQL server (tests/pg.py:
initdb + pg_ctl on 127.0.0.1, a free port, pg_stat_statements loaded) with a database owned
by an unprivileged role; both migrated with alembic (tests/support.migrate).
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests import pg
from tests.support import migrate

APP_ROLE = "refdata_bench"
DATABASE = "refdata_bench"


@dataclass(frozen=True)
class BenchDatabase:
    kind: str  # "sqlite" or "postgresql"
    url: str  # as the designs connect
    admin_url: str | None  # PostgreSQL superuser: pg_stat_statements
    server_version: str


def _admin(server: pg.PostgresServer, sql: str, database: str = "postgres") -> str:
    """Run one statement as the superuser; the first column of its first row, if any."""
    url = f"postgresql://{pg.SUPERUSER}@127.0.0.1:{server.port}/{database}"
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql.encode())
        row = cursor.fetchone() if cursor.description else None
    return "" if row is None else str(row[0])


def sqlite(root: Path) -> BenchDatabase:
    url = f"sqlite:///{root / 'refdata.db'}"
    migrate(url)
    return BenchDatabase("sqlite", url, None, sqlite3.sqlite_version)


def postgresql(server: pg.PostgresServer) -> BenchDatabase:
    _admin(server, f"CREATE ROLE {APP_ROLE} LOGIN")
    _admin(server, f"CREATE DATABASE {DATABASE} OWNER {APP_ROLE}")
    _admin(server, "CREATE EXTENSION pg_stat_statements", database=DATABASE)
    url = server.url(DATABASE, APP_ROLE)
    migrate(url)
    version = _admin(server, "SHOW server_version")
    return BenchDatabase("postgresql", url, server.url(DATABASE, pg.SUPERUSER), version)


@contextmanager
def databases(kinds: tuple[str, ...]) -> Iterator[tuple[list[BenchDatabase], list[str]]]:
    """The migrated databases of `kinds`, and why any of them could not be made."""
    root = Path(tempfile.mkdtemp(prefix="refdata-bench-"))
    server: pg.PostgresServer | None = None
    made: list[BenchDatabase] = []
    missing: list[str] = []
    try:
        for kind in kinds:
            if kind == "sqlite":
                made.append(sqlite(root))
                continue
            try:
                server = pg.start_server()
            except FileNotFoundError as exc:
                missing.append(f"postgresql: {exc}")
                continue
            made.append(postgresql(server))
        yield made, missing
    finally:
        if server is not None:
            server.destroy()
        shutil.rmtree(root, ignore_errors=True)
