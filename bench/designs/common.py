"""What the uncached designs share: the table, the response model, the routes.

Written the way FastAPI's SQL tutorial and full-stack-fastapi-template write it: a SQLAlchemy 2
mapped class, a pydantic read model, `def` routes (FastAPI runs them in its thread pool, which
is what a blocking driver call needs) taking a session from a dependency, and
`response_model` doing the serialization. Same paths, same JSON bytes as refdata.
"""

# No `from __future__ import annotations`: FastAPI must resolve the routes' annotations,
# which name a local alias.
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path
from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Country(Base):
    __tablename__ = "country"

    alpha_2: Mapped[str] = mapped_column(String(2), primary_key=True)
    alpha_3: Mapped[str] = mapped_column(String(3), unique=True)
    numeric: Mapped[str] = mapped_column(String(3), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    official_name: Mapped[str | None] = mapped_column(String(200))


class CountryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    alpha_2: str
    alpha_3: str
    numeric: str
    name: str
    official_name: str | None


CountryCode = Annotated[str, Path(pattern=r"^(?:[A-Za-z]{2,3}|[0-9]{1,3})$")]


def database_url() -> str:
    """BENCH_DATABASE_URL, with plain PostgreSQL URLs given psycopg 3 (as refdata does)."""
    url = os.environ["BENCH_DATABASE_URL"]
    scheme, _, rest = url.partition("://")
    return f"postgresql+psycopg://{rest}" if scheme in ("postgres", "postgresql") else url


def connect_args(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # FastAPI runs `def` routes in worker threads; pysqlite's same-thread check would refuse.
        return {"check_same_thread": False}
    return {"connect_timeout": 3}


def by_code(code: str) -> ColumnElement[bool]:
    """Alpha-2, alpha-3 or numeric, any case: the lookup refdata offers."""
    code = code.upper()
    if code.isdigit():
        return Country.numeric == code.zfill(3)
    return Country.alpha_2 == code if len(code) == 2 else Country.alpha_3 == code


def build_app(get_session: Callable[[], Iterator[Session]]) -> FastAPI:
    """`/countries` and `/countries/{code}`, querying through `get_session` on every request."""
    session_dep = Annotated[Session, Depends(get_session)]
    app = FastAPI(title="refdata benchmark: an uncached design")

    @app.get("/countries", response_model=list[CountryRead])
    def list_countries(session: session_dep) -> Sequence[Country]:
        return session.scalars(select(Country).order_by(Country.alpha_2)).all()

    @app.get("/countries/{code}", response_model=CountryRead)
    def get_country(session: session_dep, code: CountryCode) -> Country:
        country = session.scalars(select(Country).where(by_code(code))).one_or_none()
        if country is None:
            raise HTTPException(404, f"No country with code {code!r}.")
        return country

    return app
