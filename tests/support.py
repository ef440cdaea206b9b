"""Helpers shared by the tests: migrations, SQL counting, and invoking the Lambda handler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, event

from tests.pg import libpq_dsn

REPO = Path(__file__).resolve().parent.parent
# The admin API is enabled in the test session with this key (set before app is imported).
ADMIN_KEY = "test-admin-key-0123456789abcdef"


@dataclass(frozen=True)
class Database:
    kind: str
    url: str  # as the app connects
    admin_url: str | None  # PostgreSQL superuser, for server-side counting


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


@dataclass
class Reply:
    """An HTTP reply, decoded: a Lambda proxy response (`reply`) or a server's answer."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def reply(response: dict[str, Any]) -> Reply:
    import base64

    raw = response.get("body") or ""
    body = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for key, values in (response.get("multiValueHeaders") or {}).items():
        headers[key.lower()] = ", ".join(values)
    return Reply(response["statusCode"], headers, body)


def run_python(
    code: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter (a new execution environment) from the repo root;
    what it prints is checked for secrets (tests/leaks.py)."""
    from tests import leaks

    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    leaks.check(result.stdout + result.stderr, "a fresh interpreter's output")
    return result


def invoke(event: dict[str, Any]) -> Reply:
    """Call the real Mangum handler, as the Lambda runtime would."""
    from app.lambda_handler import handler
    from tests.events import LambdaContext

    return reply(handler(event, LambdaContext()))


class ServerStatements:
    """Statements the app's role ran, as PostgreSQL itself counts them (pg_stat_statements)."""

    def __init__(self, admin_url: str, role: str = "refdata_app") -> None:
        self.dsn = libpq_dsn(admin_url)
        self.role = role

    def reset(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_statements_reset()")

    def count(self) -> int:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s"
                " JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = %s",
                (self.role,),
            ).fetchone()
        assert row is not None
        return int(row[0])
