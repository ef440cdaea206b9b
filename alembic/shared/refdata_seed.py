"""The one reader of the seed files (alembic/data/<table>.csv), shared by the migrations.

Frozen like them: it imports nothing of `app`. alembic.ini puts this folder on `sys.path`
(`prepend_sys_path`), so a migration imports it as `refdata_seed`.

A cell is converted by the type of its column in the migration's own copy of the table:
Integer → int, Boolean → `true`/`false`, anything else as written; an empty cell is NULL.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import sqlalchemy as sa

DATA = Path(__file__).resolve().parent.parent / "data"


def _converter(column: sa.ColumnClause[Any]) -> Any:
    if isinstance(column.type, sa.Boolean):
        return _flag
    if isinstance(column.type, sa.Integer):
        return int
    return str


def _flag(value: str) -> bool:
    if value not in ("true", "false"):
        raise ValueError(f"a boolean cell is 'true' or 'false', not {value!r}")
    return value == "true"


def rows(table: sa.TableClause) -> list[dict[str, Any]]:
    """Every row of alembic/data/<table>.csv, typed by `table`'s columns."""
    path = DATA / f"{table.name}.csv"
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        unknown = set(reader.fieldnames or ()) - set(table.c.keys())
        if unknown:
            raise ValueError(f"{path.name}: columns {sorted(unknown)} are not in {table.name}")
        convert = {name: _converter(table.c[name]) for name in reader.fieldnames or ()}
        return [
            {name: None if value == "" else convert[name](value) for name, value in row.items()}
            for row in reader
        ]
