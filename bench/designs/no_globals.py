"""(a) No globals: every request creates an engine, connects, queries and disposes of it.

What a handler looks like when nothing is kept between invokes; also what a lifespan-built
engine degrades to under Mangum, which runs lifespan startup and shutdown on every invoke.
"""

from __future__ import annotations

from collections.abc import Iterator

from mangum import Mangum
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from bench.designs.common import build_app, connect_args, database_url


def get_session() -> Iterator[Session]:
    url = database_url()
    engine = create_engine(url, connect_args=connect_args(url))
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


app = build_app(get_session)
handler = Mangum(app, lifespan="off")
