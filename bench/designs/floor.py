"""(d) The framework floor: FastAPI + Mangum answering constant bytes from `async def` routes.

No middleware, no lookup, no validation beyond the path: the least any FastAPI service on
Lambda can cost per invoke. The bytes are refdata's own responses (read once at import), so
every variant sends bodies of the same size.
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Response
from mangum import Mangum
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from bench.designs.common import Country, CountryRead, connect_args, database_url


def _bodies() -> tuple[bytes, bytes]:
    url = database_url()
    engine = create_engine(url, connect_args=connect_args(url))
    try:
        with Session(engine) as session:
            rows = session.scalars(select(Country).order_by(Country.alpha_2)).all()
    finally:
        engine.dispose()
    records = [CountryRead.model_validate(row).model_dump() for row in rows]
    vietnam = next(record for record in records if record["alpha_2"] == "VN")
    return orjson.dumps(records), orjson.dumps(vietnam)


LIST_BODY, ITEM_BODY = _bodies()

app = FastAPI(title="refdata benchmark: the framework floor")


@app.get("/countries")
async def list_countries() -> Response:
    return Response(LIST_BODY, media_type="application/json")


@app.get("/countries/{code}")
async def get_country(code: str) -> Response:
    return Response(ITEM_BODY, media_type="application/json")


handler = Mangum(app, lifespan="off")
