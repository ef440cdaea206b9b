"""Vietnam's administrative units after the 2025 reform: provinces, and wards under them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from app.problems import NotFound, responses
from app.reference import EMPTY, cache
from app.responses import CachedJSON
from app.routes.search import SEARCH_DOCS, search
from app.schemas import ProvinceRead, WardRead

router = APIRouter(prefix="/vn", tags=["vietnam"])

ProvinceCode = Annotated[int, Path(ge=1, le=999, description="Province code", examples=[79])]
WardCode = Annotated[int, Path(ge=1, le=99999, description="Ward code", examples=[26740])]


@router.get(
    "/provinces",
    summary="List or search provinces",
    response_model=list[ProvinceRead],
    responses=responses(422, 503),
    openapi_extra=SEARCH_DOCS,
)
async def list_provinces(request: Request) -> Response:
    """The 34 provinces and centrally-run cities; `q` finds `Thành phố Hồ Chí Minh` from
    `ho chi minh`."""
    collection = search((await cache.asnapshot()).provinces, request)
    return CachedJSON(collection.body, collection.etag)


@router.get(
    "/provinces/{code}",
    summary="Get a province by code",
    response_model=ProvinceRead,
    responses=responses(404, 422, 503),
)
async def get_province(code: ProvinceCode) -> Response:
    """One province by code."""
    item = (await cache.asnapshot()).province_by_code.get(code)
    if item is None:
        raise NotFound(f"No province with code {code}.")
    return CachedJSON(item.body, item.etag)


@router.get(
    "/provinces/{code}/wards",
    summary="List or search a province's wards",
    response_model=list[WardRead],
    responses=responses(404, 422, 503),
    openapi_extra=SEARCH_DOCS,
)
async def list_wards(request: Request, code: ProvinceCode) -> Response:
    """The wards, communes and special zones of one province, optionally searched by name."""
    snapshot = await cache.asnapshot()
    if code not in snapshot.province_by_code:
        raise NotFound(f"No province with code {code}.")
    collection = search(snapshot.wards_by_province.get(code, EMPTY), request)
    return CachedJSON(collection.body, collection.etag)


@router.get(
    "/wards/{code}",
    summary="Get a ward by code",
    response_model=WardRead,
    responses=responses(404, 422, 503),
)
async def get_ward(code: WardCode) -> Response:
    """One ward or commune by code."""
    item = (await cache.asnapshot()).ward_by_code.get(code)
    if item is None:
        raise NotFound(f"No ward with code {code}.")
    return CachedJSON(item.body, item.etag)
