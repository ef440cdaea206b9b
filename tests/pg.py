"""A throwaway PostgreSQL server for tests: initdb + pg_ctl in a temporary directory.

It listens on 127.0.0.1 on a free port, trusts local connections, and loads
pg_stat_statements so tests can count statements on the server side too.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "postgres"


def find_bindir() -> Path | None:
    """Where initdb and pg_ctl live: on PATH, or Debian's versioned directory (newest)."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    return Path(candidates[-1]).parent if candidates else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def libpq_dsn(url: str) -> str:
    """A SQLAlchemy URL (`postgresql+psycopg://…`) as psycopg takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@dataclass
class PostgresServer:
    bindir: Path
    root: Path
    port: int

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def url(self, database: str, user: str = SUPERUSER) -> str:
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"

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

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root; the cluster belongs to the postgres user.
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.datadir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )

    def start(self) -> None:
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.root}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c shared_preload_libraries=pg_stat_statements",
                "-c pg_stat_statements.track=all",
                "-c max_connections=200",
            ]
        )
        self._run(
            "pg_ctl", "-D", str(self.datadir), "-l", str(self.root / "log"), "-o", options, "-w",
            "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """`pg_ctl restart`: every client connection is cut; same port and options."""
        self._run(
            "pg_ctl", "-D", str(self.datadir), "-l", str(self.root / "log"), "-m", "fast", "-w",
            "restart",
        )  # fmt: skip

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def start_server() -> PostgresServer:
    bindir = find_bindir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL binaries (initdb, pg_ctl) not found")
    root = Path(tempfile.mkdtemp(prefix="refdata-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    server = PostgresServer(bindir, root, free_port())
    server.init()
    for _ in range(5):
        try:
            server.start()
            return server
        except subprocess.CalledProcessError:
            # Another process took the port between free_port() and start: pick again.
            server.port = free_port()
            time.sleep(0.2)
    log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
    server.destroy()
    raise RuntimeError(f"PostgreSQL did not start:\n{log[-2000:]}")
