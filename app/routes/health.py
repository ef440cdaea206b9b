"""The state of this environment's reference cache."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.reference import CacheUnavailable, cache
from app.runtime import Environment
from app.schemas import HealthRead

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthRead,
    responses={503: {"model": HealthRead, "description": "No reference data loaded"}},
)
async def health(response: Response) -> HealthRead:
    """Cache version, age and row counts; 503 while no reference data is loaded."""
    try:
        snapshot = cache.snapshot()  # a cold cache retries its load here too
    except CacheUnavailable:
        snapshot = None
    response.headers["Cache-Control"] = "no-store"
    if snapshot is None:
        response.status_code = 503
        return HealthRead(
            status="unavailable",
            reference_version=None,
            loaded_at=None,
            age_seconds=None,
            load_ms=None,
            row_counts={},
            cold_start=Environment.is_cold_start(),
            invocations=Environment.invocations,
            error=cache.last_error,
        )
    return HealthRead(
        status="ok",
        reference_version=snapshot.version,
        loaded_at=snapshot.loaded_at,
        age_seconds=round(snapshot.age_seconds(), 3),
        load_ms=round(snapshot.load_ms, 3),
        row_counts=dict(snapshot.row_counts),
        cold_start=Environment.is_cold_start(),
        invocations=Environment.invocations,
        error=None,
    )
