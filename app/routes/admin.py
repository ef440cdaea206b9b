"""Admin API: change business settings and refresh this environment's cache.

Mounted only when REFDATA_ADMIN_API_KEY (or REFDATA_ADMIN_API_KEY_SECRET) is set. Every write
bumps `reference_version` in the same transaction, which is how other execution environments
learn of it (after their TTL); this environment revalidates on its next read, after the commit.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import event, update
from sqlalchemy.orm import Session

from app.config import settings
from app.credentials import SecretUnavailable
from app.credentials import admin as admin_secret
from app.datasets import (
    CURRENCIES,
    SETTING_INT_MAX,
    SETTINGS,
    VN_PROVINCES,
    SettingValue,
    parse_setting,
)
from app.db import SessionDep
from app.models import ReferenceVersion, Setting
from app.problems import (
    AdminKeyUnavailable,
    DatabaseUnavailable,
    Forbidden,
    InvalidRequest,
    InvalidSetting,
    NotFound,
    PayloadTooLarge,
    ReferenceDataUnavailable,
    Unauthorized,
    responses,
)
from app.reference import Snapshot, cache
from app.routes import operation_id
from app.schemas import CacheRefreshed, SettingUpdate, SettingUpdated

bearer = HTTPBearer(auto_error=False, description="REFDATA_ADMIN_API_KEY as a bearer token")


def _digest(secret: str) -> bytes:
    # Equal-length digests: the comparison reveals neither content nor the key's length.
    return hashlib.sha256(secret.encode()).digest()


def _matches(presented: bytes, key: str) -> bool:
    return hmac.compare_digest(presented, _digest(key))


async def require_admin(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    if credentials is None:
        raise Unauthorized("Send the admin key as 'Authorization: Bearer <key>'.")
    presented = _digest(credentials.credentials)
    secret = admin_secret
    if secret is None:  # the key itself is in the environment (development)
        if settings.admin_api_key is None or not _matches(
            presented, settings.admin_api_key.get_secret_value()
        ):
            raise Forbidden("That key is not the admin key.")
        return
    # By reference: the key read at INIT; read again (off the event loop) only if it is
    # not in memory, or after a key that does not match it, at most once per back-off.
    key = secret.value
    try:
        if key is None:
            key = await anyio.to_thread.run_sync(secret.get)
    except SecretUnavailable as exc:
        raise AdminKeyUnavailable(
            "The admin key could not be read; retry shortly.",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    if _matches(presented, key):
        secret.accepted()
        return
    # Perhaps the key was rotated: read it again (at most once per fixed window).
    reread = await anyio.to_thread.run_sync(secret.rejected, key)
    if reread.unavailable is not None:  # the key cannot be checked now
        raise AdminKeyUnavailable(
            "The admin key could not be read; retry shortly.",
            headers={"Retry-After": str(reread.unavailable.retry_after)},
        )
    if reread.value is None or not _matches(presented, reread.value):
        raise Forbidden("That key is not the admin key.")
    secret.accepted()


if admin_secret is not None:
    admin_secret.load()  # at INIT, with the router (never raises: a 503 until it is read)

# What every admin route can answer before its own work starts.
ADMIN = (Unauthorized, Forbidden, AdminKeyUnavailable)

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    generate_unique_id_function=operation_id,
)


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


@router.put(
    "/settings/{key}",
    summary="Change a setting",
    response_model=SettingUpdated,
    responses=responses(
        *ADMIN,
        NotFound,
        PayloadTooLarge,
        InvalidRequest,
        InvalidSetting,
        ReferenceDataUnavailable,
        DatabaseUnavailable,
    ),
)
def put_setting(
    key: Annotated[str, SETTINGS.key.path],
    update_: SettingUpdate,
    session: SessionDep,
) -> SettingUpdated:
    """Change one setting; bumps the reference version in the same transaction."""
    # Before the session takes a connection: after an earlier write this revalidates, and
    # with a pool of one (Lambda) it would otherwise wait for the session's own connection.
    snapshot = cache.snapshot()
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


def _invalidate_cache(session: Session) -> None:
    cache.invalidate()


@router.post(
    "/cache/refresh",
    summary="Reload this environment's cache now",
    response_model=CacheRefreshed,
    responses=responses(*ADMIN, ReferenceDataUnavailable),
)
def refresh_cache() -> CacheRefreshed:
    """Reload all reference data in this execution environment now."""
    snapshot = cache.try_load()
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
