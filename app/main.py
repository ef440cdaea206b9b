"""The FastAPI application (uvicorn target `app.main:app`): `create_app` composes it from the
services INIT built (app/init.py), once per execution environment.
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app import __version__, problems
from app.datasets import DATASETS
from app.init import services  # INIT: the one import that builds
from app.kit.edge import BodyLimit, Edge, Observation
from app.kit.metrics import publish
from app.responses import DocumentedAPI
from app.routes import conversion, datasets, docs, health, operation_id, orders
from app.services import Services

DESCRIPTION = """\
Every reference table is read once per execution environment into an immutable snapshot
held in memory, with its JSON already encoded: a lookup runs no SQL.

* **Caching.** Reference responses carry a strong `ETag` and
  `Cache-Control: public, max-age={max_age}`; a request with
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
ADMIN_TAG = {"name": "admin", "description": "Change settings and refresh the cache."}


def mount(app: FastAPI, router: APIRouter) -> None:
    """Add a router's routes to the app itself. Each already carries its prefix, tags and
    dependencies; FastAPI 0.16x's include_router would wrap the router and match every
    request twice, on every invoke."""
    app.router.routes.extend(router.routes)


def create_app(services: Services) -> FastAPI:
    """The API, serving `services` (its cache, database, settings and secrets)."""
    config = services.settings
    # A batch of old addresses by names is larger than any other body: its own limit.
    body_limit = BodyLimit(config.max_body_bytes, {"/vn/convert": config.max_convert_body_bytes})
    app = DocumentedAPI(
        completions=[problems.limits_documented(body_limit.of)],
        title="refdata",
        version=__version__,
        summary="Reference data served from memory: countries, currencies, subdivisions, "
        "Vietnam's provinces and wards, business thresholds.",
        description=DESCRIPTION.format(max_age=config.http_max_age_seconds),
        # The admin router is mounted only where a key is configured (below).
        openapi_tags=[*TAGS, ADMIN_TAG] if config.admin_api_enabled else TAGS,
        generate_unique_id_function=operation_id,
        # /docs and /redoc come from app.routes.docs, with their assets served from here.
        docs_url=None,
        redoc_url=None,
        # No 307 to the slash-less path: Starlette builds its Location from the Host header
        # (a redirect to any host a client names) and drops an API Gateway stage. One path
        # each.
        redirect_slashes=False,
    )
    # In the order requests are matched (see app/routes/datasets.py): today's datasets, the
    # conversion of old addresses, the old units themselves, then the rest.
    today, legacy = datasets.routes(services)
    for router in (
        today,
        conversion.routes(services),
        legacy,
        health.routes(services),
        orders.routes(services),
        docs.router,
    ):
        mount(app, router)
    if config.admin_api_enabled:
        from app.routes import admin  # noqa: PLC0415 -- only imported where it can be used

        mount(app, admin.routes(services))
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
    # Outermost: it sees, times and logs every request (see app/kit/edge/).
    app.add_middleware(
        Edge,
        body_limit=body_limit,
        observation=Observation(services.cache, partial(publish, services.metrics)),
    )
    return app


app = create_app(services)
