"""What the app ran on its database: statements and connections counted by SQLAlchemy's
events in-process, by PostgreSQL itself (pg_stat_statements), and the server backends that
serve one process's connections."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from sqlalchemy import Engine, event

from harness.postgres import libpq_dsn


@dataclass
class SqlWindow:
    """Statements executed, connections opened and pool checkouts made on one engine."""

    engine: Engine
    statements: list[str] = field(default_factory=list)
    connects: int = 0
    checkouts: int = 0

    def _on_execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    def _on_connect(self, *args: Any) -> None:
        self.connects += 1

    def _on_checkout(self, *args: Any) -> None:
        self.checkouts += 1

    def __enter__(self) -> SqlWindow:
        # engine.dispose() swaps in a new pool that keeps these listeners; remove them from
        # the pool they were added to.
        self._pool = self.engine.pool
        event.listen(self.engine, "before_cursor_execute", self._on_execute)
        event.listen(self._pool, "connect", self._on_connect)
        event.listen(self._pool, "checkout", self._on_checkout)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on_execute)
        event.remove(self._pool, "connect", self._on_connect)
        event.remove(self._pool, "checkout", self._on_checkout)

    def reset(self) -> None:
        self.statements.clear()
        self.connects = 0
        self.checkouts = 0


class ServerStatements:
    """Statements the app's role ran, as PostgreSQL itself counts them (pg_stat_statements)."""

    def __init__(self, admin_url: str, role: str = "refdata_app") -> None:
        self.dsn = libpq_dsn(admin_url)
        self.role = role

    def reset(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_statements_reset()")

    def breakdown(self) -> dict[str, int]:
        """Statement text → calls, for the role (summed over databases)."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            found = conn.execute(
                "SELECT s.query, sum(s.calls) FROM pg_stat_statements s"
                " JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = %s GROUP BY s.query",
                (self.role,),
            ).fetchall()
        return {query: int(calls) for query, calls in found}

    def count(self) -> int:
        """Statements the role ran since the last reset (in every database)."""
        return sum(self.breakdown().values())


def local_ports(pid: int) -> set[int]:
    """The local TCP ports of process `pid`'s sockets (Linux /proc): its client connections."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # closed while we look
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def app_connections(admin_url: str, pid: int) -> list[int]:
    """Server backends (their PIDs) serving the app's connections from process `pid`.

    PostgreSQL's own view (pg_stat_activity, application_name 'refdata'), narrowed to the
    client ports that process holds open, so other environments on the server do not count.
    """
    ports = sorted(local_ports(pid))
    with psycopg.connect(libpq_dsn(admin_url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE application_name = 'refdata' AND client_port = ANY(%s)",
            (ports,),
        ).fetchall()
    return sorted(row[0] for row in rows)
