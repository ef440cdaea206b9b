"""The benchmark's own databases, made by the tests' factory (harness/databases.py): a SQLite
file, or a database owned by an unprivileged role on a throwaway PostgreSQL server with
pg_stat_statements loaded; both migrated."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import make_url

from harness.databases import Database, Databases


@dataclass(frozen=True)
class BenchDatabase(Database):
    server_version: str

    @property
    def name(self) -> str:
        return str(make_url(self.url).database)

    @property
    def role(self) -> str | None:
        return make_url(self.url).username


@contextmanager
def databases(kinds: tuple[str, ...]) -> Iterator[tuple[list[BenchDatabase], list[str]]]:
    """The migrated databases of `kinds`, and why any of them could not be made."""
    made: list[BenchDatabase] = []
    missing: list[str] = []
    with ExitStack() as stack:
        for kind in kinds:
            try:
                factory = stack.enter_context(Databases(kind))
            except FileNotFoundError as exc:
                missing.append(f"{kind}: {exc}")
                continue
            database = factory.new()
            made.append(
                BenchDatabase(
                    database.kind, database.url, database.admin_url, factory.server_version
                )
            )
        yield made, missing
