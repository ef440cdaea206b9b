"""ISO 3166-1 countries and their ISO 3166-2 subdivisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from app.problems import NotFound, responses
from app.reference import EMPTY, Item, Snapshot, cache
from app.responses import CachedJSON
from app.routes.search import SEARCH_DOCS, search
from app.schemas import CountryRead, SubdivisionRead

router = APIRouter(prefix="/countries", tags=["countries"])

CountryCode = Annotated[
    str,
    Path(
        pattern=r"^(?:[A-Za-z]{2,3}|[0-9]{1,3})$",
        description="Alpha-2 (`VN`), alpha-3 (`VNM`) or numeric (`704`) code, any case",
        examples=["VN"],
    ),
]


def _country(snapshot: Snapshot, code: str) -> Item:
    item = snapshot.country(code)
    if item is None:
        raise NotFound(f"No country with code {code!r}.")
    return item


@router.get(
    "",
    summary="List or search countries",
    response_model=list[CountryRead],
    responses=responses(422, 503),
    openapi_extra=SEARCH_DOCS,
)
async def list_countries(request: Request) -> Response:
    """All countries, or those whose name contains `q` (case- and accent-insensitive)."""
    collection = search((await cache.asnapshot()).countries, request)
    return CachedJSON(collection.body, collection.etag)


@router.get(
    "/{code}",
    summary="Get a country by code",
    response_model=CountryRead,
    responses=responses(404, 422, 503),
)
async def get_country(code: CountryCode) -> Response:
    """One country by any of its ISO 3166-1 codes."""
    item = _country(await cache.asnapshot(), code)
    return CachedJSON(item.body, item.etag)


@router.get(
    "/{code}/subdivisions",
    summary="List a country's subdivisions",
    response_model=list[SubdivisionRead],
    responses=responses(404, 422, 503),
)
async def list_subdivisions(code: CountryCode) -> Response:
    """A country's ISO 3166-2 subdivisions (empty for countries that have none)."""
    snapshot = await cache.asnapshot()
    country = _country(snapshot, code)
    collection = snapshot.subdivisions_by_country.get(country.record["alpha_2"], EMPTY)
    return CachedJSON(collection.body, collection.etag)
