"""The declarative base and the one engine of this execution environment, built at INIT."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

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
        if config.db_statement_timeout_ms:
            # A hung query becomes an error (503) instead of a Lambda timeout.
            connect_args["options"] = f"-c statement_timeout={config.db_statement_timeout_ms}"
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

# expire_on_commit=False: handlers return the objects they wrote after the commit.
SessionLocal = sessionmaker(engine, expire_on_commit=False)


def get_session() -> Iterator[Session]:
    """The one place that commits: on success after the handler, rollback on any error."""
    with SessionLocal() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()


# scope="function": commit before the response is sent, so a failed commit is the response.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
