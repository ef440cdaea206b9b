"""The state of this environment's reference cache."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.kit.lanes import Lanes
from app.kit.runtime import Environment
from app.routes import operation_id
from app.schemas import HealthRead
from app.services import Services
from app.snapshot.cache import CacheUnavailable


def routes(services: Services) -> APIRouter:
    """GET /health, on `services.cache`."""
    router = APIRouter(tags=["health"], generate_unique_id_function=operation_id)
    cache = services.cache

    @router.get(
        "/health",
        summary="This environment's cache state",
        response_model=HealthRead,
        responses={503: {"model": HealthRead, "description": "No reference data to serve"}},
    )
    async def health(response: Response) -> HealthRead:
        """Cache version, age, freshness and counters; 503 while no reference data is servable."""
        try:
            snapshot = await cache.asnapshot()  # refreshes like any reference read would
        except CacheUnavailable as exc:
            snapshot = None
            response.status_code = 503
            response.headers["Retry-After"] = str(exc.retry_after)
        response.headers["Cache-Control"] = "no-store"
        stale = cache.stale_seconds() if cache.last_error else None
        status = "unavailable" if snapshot is None else "stale" if stale is not None else "ok"
        return HealthRead(
            status=status,
            reference_version=snapshot.version if snapshot else None,
            loaded_at=snapshot.loaded_at if snapshot else None,
            age_seconds=round(snapshot.age_seconds(), 3) if snapshot else None,
            load_ms=round(snapshot.load_ms, 3) if snapshot else None,
            ttl_seconds=cache.policy.ttl_seconds,
            stale_seconds=round(stale, 3) if stale is not None else None,
            row_counts=dict(snapshot.row_counts) if snapshot else {},
            cold_start=Environment.is_cold_start(),
            invocations=Environment.invocations,
            counters=dict(cache.counters),
            error=cache.last_error,
            lanes={name: lanes.state() for name, lanes in Lanes.every.items()},
        )

    return router
