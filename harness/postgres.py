"""A throwaway PostgreSQL server: pytest-postgresql's executor (initdb, pg_ctl, wait, stop,
clean up) in a temporary directory.

It listens on 127.0.0.1 on a free port, trusts local connections, and loads
pg_stat_statements so the tests can count statements on the server side too. The same
server serves the test session, the benchmark and the reliability runs.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mirakuru.exceptions import ExecutorError
from pytest_postgresql.executors import PostgreSQLExecutor

SUPERUSER = "postgres"
# Settings for a server whose data nobody needs after the run; max_connections is high
# enough for the concurrency tests' environments.
OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c synchronous_commit=off -c full_page_writes=off"
    " -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
    " -c max_connections=200"
)


def find_pg_ctl() -> Path | None:
    """pg_ctl on PATH, or in Debian's versioned directory (the newest)."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve()
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    return Path(candidates[-1]) if candidates else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def libpq_dsn(url: str) -> str:
    """A SQLAlchemy URL (`postgresql+psycopg://…`) as psycopg takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _as_postgres(pg_ctl: Path, root: Path) -> Path:
    """PostgreSQL refuses to run as root: run as root, pg_ctl is called through `runuser`,
    and the cluster's directory belongs to the postgres user."""
    if os.geteuid() != 0:
        return pg_ctl
    shutil.chown(root, SUPERUSER, SUPERUSER)
    wrapper = root / "pg_ctl"
    wrapper.write_text(f'#!/bin/sh\nexec runuser -u {SUPERUSER} -- "{pg_ctl}" "$@"\n')
    wrapper.chmod(stat.S_IRWXU)
    return wrapper


def _start(executor: PostgreSQLExecutor) -> None:
    """Started, and `pg_ctl start -w` (which mirakuru sees as ready once the port answers)
    finished too, so a stop soon after does not interrupt it."""
    executor.start()
    if executor.process is not None:
        executor.process.wait(60)


class PostgresServer:
    """One running cluster; `stop`/`start`/`restart` keep its port, data and options."""

    def __init__(self, executor: PostgreSQLExecutor, root: Path) -> None:
        self._executor = executor
        self.root = root

    @property
    def port(self) -> int:
        return int(self._executor.port)

    @property
    def datadir(self) -> Path:
        return Path(self._executor.datadir)

    def url(self, database: str, user: str = SUPERUSER) -> str:
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"

    def log(self) -> str:
        path = Path(self._executor.logfile)
        return path.read_text(errors="replace") if path.exists() else ""

    def admin(self, sql: str, database: str = "postgres") -> str:
        """Run one statement as the superuser; the first column of its first row, if any."""
        import psycopg  # only where a PostgreSQL server runs

        with psycopg.connect(libpq_dsn(self.url(database)), autocommit=True) as conn:
            cursor = conn.execute(sql.encode())
            row = cursor.fetchone() if cursor.description else None
        return "" if row is None else str(row[0])

    def require_password(self, role: str) -> None:
        """Make `role` log in with its password over TCP (scram-sha-256), as on RDS; every
        other role stays trusted."""
        hba = self.datadir / "pg_hba.conf"
        line = f"host all {role} 127.0.0.1/32 scram-sha-256\n"
        text = hba.read_text()
        if line not in text:
            hba.write_text(line + text)  # the first matching line wins
            self.admin("SELECT pg_reload_conf()")

    def stop(self) -> None:
        """`pg_ctl stop -m fast`: every client connection is cut."""
        self._executor.stop()

    def start(self) -> None:
        _start(self._executor)

    def restart(self) -> None:
        """Stopped and started again: every client connection is cut; same port and data."""
        self.stop()
        self.start()

    def destroy(self) -> None:
        with contextlib.suppress(ExecutorError, OSError):  # already stopped
            if self._executor.running():
                self._executor.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def start_server() -> PostgresServer:
    """A new cluster on a free port; FileNotFoundError when PostgreSQL is not installed."""
    pg_ctl = find_pg_ctl()
    if pg_ctl is None:
        raise FileNotFoundError("PostgreSQL binaries (pg_ctl, initdb) not found")
    root = Path(tempfile.mkdtemp(prefix="refdata-pg-"))
    executable = _as_postgres(pg_ctl, root)
    failure: Exception | None = None
    for _ in range(5):
        executor = PostgreSQLExecutor(
            executable=str(executable),
            host="127.0.0.1",
            port=free_port(),
            datadir=str(root / "data"),
            unixsocketdir=str(root),
            logfile=str(root / "log"),
            startparams="-w",
            dbname="postgres",
            user=SUPERUSER,
            postgres_options=OPTIONS,
        )
        try:
            _start(executor)
            return PostgresServer(executor, root)
        except ExecutorError as exc:
            # Most likely another process took the port between free_port() and start.
            failure = exc
            with contextlib.suppress(ExecutorError, OSError):
                executor.stop()
    log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
    shutil.rmtree(root, ignore_errors=True)
    raise RuntimeError(f"PostgreSQL did not start ({failure}):\n{log[-2000:]}")


@contextlib.contextmanager
def throwaway_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of its own, destroyed afterwards."""
    server = start_server()
    try:
        yield server
    finally:
        server.destroy()
