"""(b) Engine at INIT: a module-scope engine and session factory; a query on every request.

The usual FastAPI + SQLAlchemy service, sized for Lambda as refdata is (pool 1 + 0,
pre-ping). BENCH_POOL_SIZE / BENCH_MAX_OVERFLOW resize it for a multi-request server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from mangum import Mangum
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from bench.designs.common import build_app, connect_args, database_url

url = database_url()
engine = create_engine(
    url,
    pool_size=int(os.environ.get("BENCH_POOL_SIZE", "1")),
    max_overflow=int(os.environ.get("BENCH_MAX_OVERFLOW", "0")),
    pool_pre_ping=True,
    pool_recycle=3600,
    connect_args=connect_args(url),
)
SessionLocal = sessionmaker(engine)


def get_session() -> Iterator[Session]:
    with SessionLocal() as session:
        yield session


app = build_app(get_session)
handler = Mangum(app, lifespan="off")
