"""The routes of every dataset, made from its declaration (app/datasets.py).

A dataset has up to three kinds of GET: its list (`/countries`, searched with `q` when it
declares search fields), one record by key (`/countries/{code}`), and its records under
another dataset's record (`/countries/{code}/subdivisions`). Each is `async def`, reads the
current snapshot and answers pre-encoded bytes: a dict lookup or two, no SQL, no encoding.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response

from app.datasets import DATASETS, VIETNAM_BEFORE_2025, Dataset, Grouping, Key, Route
from app.problems import InvalidRequest, NotFound, ReferenceDataUnavailable, responses
from app.responses import CachedJSON, Headers, cached_headers, ok
from app.routes import operation_id
from app.routes.search import SEARCH_DOCS, search
from app.services import Services
from app.snapshot.cache import ReferenceCache
from app.snapshot.snapshot import EMPTY

Endpoint = Callable[..., Awaitable[Response]]

_REQUEST = inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request)


def _taking(endpoint: Endpoint, *parameters: inspect.Parameter) -> Endpoint:
    """`endpoint`, declared to FastAPI as taking `parameters` (the names and types come from
    the declaration; inspect.signature, which FastAPI reads, honours __signature__)."""
    endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return endpoint


def _path(key: Key) -> inspect.Parameter:
    return inspect.Parameter(
        key.name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[key.type, key.path]
    )


def not_found(dataset: Dataset, value: Any) -> NotFound:
    return NotFound(f"No {dataset.noun} with {dataset.lookup.name} {value!r}.")


def list_endpoint(dataset: Dataset, cache: ReferenceCache, headers: Headers) -> Endpoint:
    name, searchable = dataset.name, bool(dataset.search)

    async def endpoint(**parameters: Any) -> Response:
        collection = (await cache.asnapshot()).datasets[name].all
        if searchable:
            collection = search(collection, parameters["request"])
        return CachedJSON(collection.body, collection.etag, headers)

    return _taking(endpoint, *([_REQUEST] if searchable else []))


def get_endpoint(dataset: Dataset, cache: ReferenceCache, headers: Headers) -> Endpoint:
    name, key, normalise = dataset.name, dataset.lookup.name, dataset.lookup.normalise

    async def endpoint(**parameters: Any) -> Response:
        value = parameters[key]
        item = (await cache.asnapshot()).datasets[name].by_key.get(normalise(value))
        if item is None:
            raise not_found(dataset, value)
        return CachedJSON(item.body, item.etag, headers)

    return _taking(endpoint, _path(dataset.lookup))


def group_endpoint(
    dataset: Dataset, grouping: Grouping, cache: ReferenceCache, headers: Headers
) -> Endpoint:
    parent = grouping.parent
    name, field, searchable = dataset.name, grouping.field, bool(dataset.search)
    parent_name, key, normalise = parent.name, parent.lookup.name, parent.lookup.normalise
    primary_key = parent.lookup.fields[0]

    async def endpoint(**parameters: Any) -> Response:
        snapshot = await cache.asnapshot()
        value = parameters[key]
        owner = snapshot.datasets[parent_name].by_key.get(normalise(value))
        if owner is None:
            raise not_found(parent, value)
        collection = snapshot.datasets[name].groups[field].get(owner.record[primary_key], EMPTY)
        if searchable:
            collection = search(collection, parameters["request"])
        return CachedJSON(collection.body, collection.etag, headers)

    return _taking(endpoint, *([_REQUEST] if searchable else []), _path(parent.lookup))


def _add(
    router: APIRouter,
    route: Route,
    endpoint: Endpoint,
    dataset: Dataset,
    *,
    many: bool,
    keyed: bool,
) -> None:
    searchable = many and bool(dataset.search)
    # An unknown key is a 404 and a malformed one a 422; so is an unusable `q`.
    problems = (NotFound, InvalidRequest) if keyed else (InvalidRequest,) if searchable else ()
    router.add_api_route(
        route.path,
        endpoint,
        methods=["GET"],
        name=route.name,
        summary=route.summary,
        description=route.description,
        tags=[dataset.tag.name],
        # Documented, not validated: the body is pre-encoded bytes (see app.responses.ok).
        response_model=None,
        responses={
            **ok(dataset.schema, many=many),
            **responses(*problems, ReferenceDataUnavailable),
        },
        openapi_extra=SEARCH_DOCS if searchable else None,
    )


def _add_routes(
    router: APIRouter, dataset: Dataset, cache: ReferenceCache, headers: Headers
) -> None:
    """Its list, its get, then the groups under its records: the order /docs shows."""
    if dataset.list_route is not None:
        endpoint = list_endpoint(dataset, cache, headers)
        _add(router, dataset.list_route, endpoint, dataset, many=True, keyed=False)
    if dataset.get_route is not None:
        endpoint = get_endpoint(dataset, cache, headers)
        _add(router, dataset.get_route, endpoint, dataset, many=False, keyed=True)
    for child in DATASETS:
        for grouping in child.groups:
            if grouping.parent is dataset and grouping.route is not None:
                endpoint = group_endpoint(child, grouping, cache, headers)
                _add(router, grouping.route, endpoint, child, many=True, keyed=True)


def routes(services: Services) -> tuple[APIRouter, APIRouter]:
    """Every dataset's GET routes, served from `services.cache`: today's datasets, and the
    old units' (VIETNAM_BEFORE_2025). Starlette tries a request against the routes in order,
    and each route it passes costs time: the old units' browsing routes, the least asked
    for, are a router of their own, mounted after the conversion routes (app/main.py)."""
    router = APIRouter(generate_unique_id_function=operation_id)
    legacy_router = APIRouter(generate_unique_id_function=operation_id)
    headers = cached_headers(services.settings.http_max_age_seconds)
    for dataset in DATASETS:
        chosen = legacy_router if dataset.tag is VIETNAM_BEFORE_2025 else router
        _add_routes(chosen, dataset, services.cache, headers)
    return router, legacy_router
