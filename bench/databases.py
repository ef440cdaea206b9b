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


def sqlite(root: Path) -> BenchDatabase:
    url = f"sqlite:///{root / 'refdata.db'}"
    migrate(url)
    return BenchDatabase("sqlite", url, None, sqlite3.sqlite_version)


def postgresql(server: pg.PostgresServer) -> BenchDatabase:
    server.admin(f"CREATE ROLE {APP_ROLE} LOGIN")
    server.admin(f"CREATE DATABASE {DATABASE} OWNER {APP_ROLE}")
    server.admin("CREATE EXTENSION pg_stat_statements", database=DATABASE)
    url = server.url(DATABASE, APP_ROLE)
    migrate(url)
    version = server.admin("SHOW server_version")
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
