"""Admin API: change business settings and refresh this environment's cache.

Mounted only when REFDATA_ADMIN_API_KEY (or REFDATA_ADMIN_API_KEY_SECRET) is set. Every write
bumps `reference_version` in the same transaction, which is how other execution environments
learn of it (after their TTL); this environment revalidates on its next read, after the commit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Request
from sqlalchemy import event, update
from sqlalchemy.orm import Session

from app.datasets import (
    CURRENCIES,
    SETTING_INT_MAX,
    SETTINGS,
    VN_PROVINCES,
    SettingValue,
    parse_setting,
)
from app.kit.keys import ApiKey, guarded_router
from app.models import ReferenceVersion, Setting
from app.problems import (
    AdminKeyUnavailable,
    DatabaseUnavailable,
    InvalidRequest,
    InvalidSetting,
    NotFound,
    PayloadTooLarge,
    ReferenceDataUnavailable,
    TooBusy,
    responses,
)
from app.routes import operation_id
from app.schemas import CacheRefreshed, SettingUpdate, SettingUpdated
from app.services import Services
from app.snapshot.snapshot import Snapshot


def check_value(key: str, value_type: str, value: SettingValue, snapshot: Snapshot) -> str:
    """The stored text of a valid value, or InvalidSetting naming the rule it breaks."""
    expected = {"int": int, "bool": bool, "str": str}[value_type]
    # bool is a subclass of int in Python; in JSON they are different types.
    if type(value) is not expected:
        raise InvalidSetting(f"{key!r} takes a JSON {value_type}, not {type(value).__name__}.")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value < 0:
            raise InvalidSetting(f"{key!r} cannot be negative.")
        if value > SETTING_INT_MAX:  # stored, it would stop every snapshot from loading
            raise InvalidSetting(f"{key!r} cannot be more than {SETTING_INT_MAX}.")
        if key == "warehouse_province_code" and value not in snapshot[VN_PROVINCES].by_key:
            raise InvalidSetting(f"{value} is not a province code.")
        return str(value)
    if not value or len(value) > 500:
        raise InvalidSetting(f"{key!r} takes 1 to 500 characters.")
    if key == "currency" and value not in snapshot[CURRENCIES].by_key:
        raise InvalidSetting(f"{value!r} is not an ISO 4217 currency code.")
    return value


def _as_is(updated: SettingUpdated) -> SettingUpdated:
    return updated


def routes(services: Services) -> APIRouter:
    """The admin routes, behind the admin key: settings written through
    `services.database`, `services.cache` invalidated or reloaded."""
    cache, database, settings = services.cache, services.database, services.settings
    in_session = database.in_session

    admin_key = ApiKey(
        "admin key", settings.admin_api_key, services.secrets.admin, AdminKeyUnavailable
    )

    guard = admin_key.problems

    router = guarded_router(
        admin_key, prefix="/admin", tags=["admin"], generate_unique_id_function=operation_id
    )

    @router.put(
        "/settings/{key}",
        summary="Change a setting",
        response_model=SettingUpdated,
        responses=responses(
            *guard,
            NotFound,
            PayloadTooLarge,
            InvalidRequest,
            InvalidSetting,
            ReferenceDataUnavailable,
            DatabaseUnavailable,
            TooBusy,
        ),
    )
    async def put_setting(
        key: Annotated[str, SETTINGS.key.path],
        update_: SettingUpdate,
        request: Request,
    ) -> SettingUpdated:
        """Change one setting; bumps the reference version in the same transaction."""
        # Before the unit of work takes a connection: after an earlier write this revalidates,
        # and with a pool of one (Lambda) it would otherwise wait for the session's own connection.
        snapshot = await cache.asnapshot()

        def change(session: Session) -> SettingUpdated:
            row = session.get(Setting, key, with_for_update=True)
            if row is None:
                raise NotFound(f"No setting with key {key!r}.")
            row.value = check_value(key, row.value_type, update_.value, snapshot)
            version = session.execute(
                update(ReferenceVersion)
                .where(ReferenceVersion.id == 1)
                .values(version=ReferenceVersion.version + 1, updated_at=datetime.now(UTC))
                .returning(ReferenceVersion.version)
            ).scalar_one()
            # Only once the commit has succeeded may this environment drop its snapshot.
            event.listen(session, "after_commit", _invalidate_cache, once=True)
            return SettingUpdated(
                key=row.key,
                value=parse_setting(row.value, row.value_type),
                value_type=row.value_type,
                description=row.description,
                reference_version=version,
            )

        return await in_session(request.scope, change, _as_is)

    def _invalidate_cache(session: Session) -> None:
        cache.invalidate()

    @router.post(
        "/cache/refresh",
        summary="Reload this environment's cache now",
        response_model=CacheRefreshed,
        responses=responses(*guard, ReferenceDataUnavailable, TooBusy),
    )
    async def refresh_cache(request: Request) -> CacheRefreshed:
        """Reload all reference data in this execution environment now."""
        # A whole load (every table read and indexed): off the event loop, as all SQL is.
        snapshot = await database.lanes.run(request.scope, cache.try_load)
        if snapshot is None:
            raise ReferenceDataUnavailable(
                "The database could not be read; the current snapshot is kept.",
                headers={"Retry-After": "5"},
            )
        return CacheRefreshed(
            reference_version=snapshot.version,
            load_ms=round(snapshot.load_ms, 3),
            row_counts=dict(snapshot.row_counts),
        )

    return router
