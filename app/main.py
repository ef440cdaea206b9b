"""The FastAPI application (uvicorn target `app.main:app`).

Importing this module is INIT: settings, engine, first connection and the reference
snapshot are all built by the imports below, once per execution environment.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.middleware.cors import CORSMiddleware

from app import __version__, problems
from app.config import settings as config
from app.datasets import DATASETS
from app.metrics import publish
from app.middleware import BodyLimit, Edge, Observation
from app.reference import cache
from app.responses import DocumentedAPI
from app.routes import conversion, datasets, docs, health, operation_id, orders

DESCRIPTION = f"""\
Every reference table is read once per execution environment into an immutable snapshot
held in memory, with its JSON already encoded: a lookup runs no SQL.

* **Caching.** Reference responses carry a strong `ETag` and
  `Cache-Control: public, max-age={config.http_max_age_seconds}`; a request with
  `If-None-Match` and the current tag gets `304 Not Modified`.
* **Search.** `q` on list routes matches names ignoring case, accents and punctuation:
  `ho chi minh` finds Thành phố Hồ Chí Minh.
* **Errors** are `application/problem+json` (RFC 9457) with a stable `type` to switch on:
  `urn:refdata:problem:not-found` (404), `…:validation-error` (422),
  `…:reference-data-unavailable` (503, with `Retry-After`).
"""

# One entry per router tag, in the order /docs shows them: the datasets' tags first.
TAGS = [
    *(
        {"name": tag.name, "description": tag.description}
        for tag in dict.fromkeys(dataset.tag for dataset in DATASETS)
    ),
    {"name": conversion.TAG.name, "description": conversion.TAG.description},
    {"name": "orders", "description": "Quote, place and read orders, priced from the settings."},
    {"name": "health", "description": "The state of this execution environment's cache."},
]
if config.admin_api_enabled:  # the admin router is mounted only then (below)
    TAGS.append({"name": "admin", "description": "Change settings and refresh the cache."})

app = DocumentedAPI(
    title="refdata",
    version=__version__,
    summary="Reference data served from memory: countries, currencies, subdivisions, "
    "Vietnam's provinces and wards, business thresholds.",
    description=DESCRIPTION,
    openapi_tags=TAGS,
    generate_unique_id_function=operation_id,
    # /docs and /redoc come from app.routes.docs, with their assets served from here.
    docs_url=None,
    redoc_url=None,
    # No 307 to the slash-less path: Starlette builds its Location from the Host header
    # (a redirect to any host a client names) and drops an API Gateway stage. One path each.
    redirect_slashes=False,
)


def mount(router: APIRouter) -> None:
    """Add a router's routes to the app itself. Each already carries its prefix, tags and
    dependencies; FastAPI 0.16x's include_router would wrap the router and match every
    request twice, on every invoke."""
    app.router.routes.extend(router.routes)


# In the order requests are matched (see app/routes/datasets.py): today's datasets, the
# conversion of old addresses, the old units themselves, then the rest.
for router in (datasets.router, conversion.router, datasets.legacy_router):
    mount(router)
for module in (health, orders, docs):
    mount(module.router)
if config.admin_api_enabled:
    from app.routes import admin  # only imported where it can be used

    mount(admin.router)
problems.install(app)
if config.cors_origins:  # closed unless origins are configured
    app.add_middleware(
        CORSMiddleware,
        allow_origins=config.cors_origins,
        allow_methods=["GET", "POST", "PUT"],
        allow_headers=["Authorization", "Content-Type", "If-None-Match", "Idempotency-Key"],
        expose_headers=["ETag", "Location", "Retry-After", "Server-Timing"],
        max_age=600,
    )
# Outermost: it sees, times and logs every request (see app/middleware.py).
app.add_middleware(
    Edge,
    # A batch of old addresses by names is larger than any other body: its own limit.
    body_limit=BodyLimit(config.max_body_bytes, {"/vn/convert": config.max_convert_body_bytes}),
    observation=Observation(cache, publish),
)
