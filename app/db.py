"""The declarative base and the one engine of this execution environment, built at INIT."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase

from app.config import Settings, settings
from app.runtime import count_statement

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def build_engine(config: Settings) -> Engine:
    """A sync engine sized for one environment: Lambda serves one request at a time."""
    url = config.database_url.get_secret_value()
    connect_args: dict[str, Any]
    if config.is_sqlite:
        # Orders run in FastAPI's worker threads; pysqlite's same-thread check would refuse.
        connect_args = {"check_same_thread": False, "timeout": config.db_connect_timeout_seconds}
    else:
        connect_args = {
            "connect_timeout": config.db_connect_timeout_seconds,
            "application_name": "refdata",
        }
    return create_engine(
        url,
        pool_size=config.db_pool_size,
        max_overflow=config.db_max_overflow,
        pool_pre_ping=config.db_pool_pre_ping,
        pool_recycle=config.db_pool_recycle_seconds,
        connect_args=connect_args,
    )


engine = build_engine(settings)
event.listen(engine, "before_cursor_execute", count_statement)
