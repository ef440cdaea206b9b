"""Lambda handler of the `migrate` function: `alembic upgrade head` on the configured database.

A separate function with its own INIT, so the API never imports Alembic. Invoke it after
each deploy (`serverless invoke -f migrate`); it returns the revisions it went between.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from app.kit.secrets import database_url
from app.kit.settings import load_settings

ALEMBIC_INI = Path(__file__).resolve().parent.parent / "alembic.ini"


def current_revision(url: str) -> str | None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> dict[str, Any]:
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    before = current_revision(url)
    command.upgrade(config, revision)
    after = current_revision(url)
    return {"from": before, "to": after, "changed": before != after}


def handler(event: dict[str, Any] | None, context: object) -> dict[str, Any]:
    """Upgrade to `event["revision"]` (default head) and say what changed."""
    url = database_url(load_settings())  # the plain URL, or built from the secret
    revision = (event or {}).get("revision", "head")
    return upgrade(url, str(revision))
