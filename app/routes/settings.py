"""Typed business thresholds and configuration (amounts in VND)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from app.problems import NotFound, responses
from app.reference import cache
from app.responses import CachedJSON
from app.schemas import SettingRead

router = APIRouter(prefix="/settings", tags=["settings"])


@router.get("", summary="List settings", response_model=list[SettingRead], responses=responses(503))
async def list_settings() -> Response:
    """Every business setting with its typed value."""
    collection = (await cache.asnapshot()).settings
    return CachedJSON(collection.body, collection.etag)


@router.get(
    "/{key}",
    summary="Get a setting by key",
    response_model=SettingRead,
    responses=responses(404, 422, 503),
)
async def get_setting(
    key: Annotated[
        str,
        Path(pattern=r"^[a-z][a-z0-9_]{0,63}$", examples=["max_order_total_vnd"]),
    ],
) -> Response:
    """One setting by key."""
    item = (await cache.asnapshot()).setting_by_key.get(key)
    if item is None:
        raise NotFound(f"No setting with key {key!r}.")
    return CachedJSON(item.body, item.etag)
