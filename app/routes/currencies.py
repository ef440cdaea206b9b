"""ISO 4217 currencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from app.problems import NotFound, responses
from app.reference import cache
from app.responses import CachedJSON
from app.schemas import CurrencyRead

router = APIRouter(prefix="/currencies", tags=["currencies"])


@router.get(
    "", summary="List currencies", response_model=list[CurrencyRead], responses=responses(503)
)
async def list_currencies() -> Response:
    """All ISO 4217 currencies."""
    collection = (await cache.asnapshot()).currencies
    return CachedJSON(collection.body, collection.etag)


@router.get(
    "/{code}",
    summary="Get a currency by code",
    response_model=CurrencyRead,
    responses=responses(404, 422, 503),
)
async def get_currency(
    code: Annotated[
        str,
        Path(pattern=r"^[A-Za-z]{3}$", description="Alphabetic code, any case", examples=["VND"]),
    ],
) -> Response:
    """One currency by its alphabetic code."""
    item = (await cache.asnapshot()).currency_by_code.get(code.upper())
    if item is None:
        raise NotFound(f"No currency with code {code!r}.")
    return CachedJSON(item.body, item.etag)
