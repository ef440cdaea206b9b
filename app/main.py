"""The FastAPI application (uvicorn target `app.main:app`).

Importing this module is INIT: settings, engine, first connection and the reference
snapshot are all built by the imports below, once per execution environment.
"""

from __future__ import annotations

from fastapi import FastAPI

from app import __version__, problems
from app.middleware import RequestLog, StagePrefix
from app.routes import countries, currencies, health, settings, vn

app = FastAPI(
    title="refdata",
    version=__version__,
    summary="Reference data served from memory: countries, currencies, subdivisions, "
    "Vietnam's provinces and wards, business thresholds.",
)
app.include_router(countries.router)
app.include_router(currencies.router)
app.include_router(vn.router)
app.include_router(settings.router)
app.include_router(health.router)
problems.install(app)
app.add_middleware(StagePrefix)
app.add_middleware(RequestLog)  # outermost: it times and logs everything
