"""The reference-data cache: every table read once into an immutable, pre-encoded Snapshot.

Readers call `cache.snapshot()` and get whatever snapshot is current; they never lock and
never touch the database while one is loaded. A reload builds a whole new Snapshot and
swaps a single attribute, so nobody sees half of an update.
"""

from __future__ import annotations

import gc
import hashlib
import math
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import anyio.to_thread
import orjson
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import SQLAlchemyError

from app.config import settings
from app.db import engine
from app.logs import logger
from app.models import (
    Country,
    Currency,
    ReferenceVersion,
    Setting,
    Subdivision,
    VnProvince,
    VnWard,
)
from app.runtime import note

SettingValue = int | str | bool

_NOT_WORD = re.compile(r"[\W_]+")
# The Unicode blocks of combining marks (accents, tones, hooks), left over by NFKD.
_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
# Vietnamese đ/Đ is a letter of its own, not d plus a mark, so NFKD leaves it alone.
_LETTERS_WITHOUT_DECOMPOSITION = str.maketrans({"đ": "d", "Đ": "d", "ø": "o", "Ø": "o"})


def fold(text: str) -> str:
    """Case-, accent- and punctuation-free: `Thành phố Hồ Chí Minh` → `thanh pho ho chi minh`."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LETTERS_WITHOUT_DECOMPOSITION))
    return _NOT_WORD.sub(" ", _MARKS.sub("", decomposed).casefold()).strip()


def etag_of(body: bytes) -> str:
    """A strong validator: the same bytes always give the same tag."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


class Item:
    """One record as served: its fields, its JSON and its ETag, plus the text a search
    matches. The JSON is encoded on the first request for this record, not at INIT: lists
    are encoded whole, and most records are never asked for alone. (Encoding twice in two
    threads gives the same bytes, so the memo needs no lock.)"""

    __slots__ = ("_body", "_etag", "record", "searchable")

    def __init__(self, record: Mapping[str, Any], searchable: str = "") -> None:
        self.record = record
        self.searchable = searchable
        self._body: bytes | None = None
        self._etag: str | None = None

    @property
    def body(self) -> bytes:
        if self._body is None:
            self._body = orjson.dumps(self.record)
        return self._body

    @property
    def etag(self) -> str:
        if self._etag is None:
            self._etag = etag_of(self.body)
        return self._etag


@dataclass(frozen=True, slots=True)
class Collection:
    """A list response, encoded once; searches join the bytes of the items that match."""

    items: tuple[Item, ...]
    body: bytes
    etag: str
    # Folded search text per item, filled by the first search. Filling it twice (two
    # threads at once) gives the same list, so no lock is needed.
    _folded: list[tuple[str, ...]] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def of(cls, items: Iterable[Item]) -> Collection:
        items = tuple(items)
        body = orjson.dumps([item.record for item in items])  # one call for the whole list
        return cls(items, body, etag_of(body))

    @classmethod
    def encoded(cls, records: list[dict[str, Any]]) -> Collection:
        """A list served only whole (subdivisions): one encode, no per-record Items."""
        body = orjson.dumps(records)
        return cls((), body, etag_of(body))

    def search(self, folded_query: str) -> Collection:
        """The items whose folded text contains the (already folded) query."""
        if not self._folded:
            self._folded.append(tuple(fold(item.searchable) for item in self.items))
        folded = self._folded[0]
        return Collection.of(
            item for item, text in zip(self.items, folded, strict=True) if folded_query in text
        )


EMPTY = Collection.of(())


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    loaded_at: datetime
    loaded_monotonic: float
    load_ms: float
    row_counts: Mapping[str, int]
    countries: Collection
    country_by_code: Mapping[str, Item]
    subdivisions_by_country: Mapping[str, Collection]
    currencies: Collection
    currency_by_code: Mapping[str, Item]
    provinces: Collection
    province_by_code: Mapping[int, Item]
    wards_by_province: Mapping[int, Collection]
    ward_by_code: Mapping[int, Item]
    settings: Collection
    setting_by_key: Mapping[str, Item]
    setting_values: Mapping[str, SettingValue]

    def age_seconds(self) -> float:
        return time.monotonic() - self.loaded_monotonic

    def country(self, code: str) -> Item | None:
        """By alpha-2, alpha-3 or numeric code, any case."""
        code = code.upper()
        if code.isdigit():
            code = code.zfill(3)
        return self.country_by_code.get(code)


class SnapshotError(ValueError):
    """The database holds reference data that cannot be served (e.g. a mistyped setting)."""


# The largest int setting: what a BIGINT holds and orjson encodes (it refuses more).
SETTING_INT_MAX = 2**63 - 1


def parse_setting(value: str, value_type: str) -> SettingValue:
    if value_type == "int":
        number = int(value)
        if not -SETTING_INT_MAX - 1 <= number <= SETTING_INT_MAX:
            raise ValueError("an int setting must fit in 64 bits")
        return number
    if value_type == "bool":
        if value not in ("true", "false"):
            raise ValueError("a bool setting must be 'true' or 'false'")
        return value == "true"
    if value_type == "str":
        return value
    raise ValueError(f"unknown value type {value_type!r}")


def _item(record: Mapping[str, Any], *searchable: str | None) -> Item:
    """A record, with the names a search would match."""
    return Item(record, " ".join(s for s in searchable if s))


def _grouped(items: Iterable[Item], key: str) -> dict[Any, Collection]:
    groups: dict[Any, list[Item]] = {}
    for item in items:
        groups.setdefault(item.record[key], []).append(item)
    return {group: Collection.of(members) for group, members in groups.items()}


def _rows(conn: Connection, table: Any, order_by: Any) -> list[dict[str, Any]]:
    result = conn.execute(select(table).order_by(order_by))
    keys = tuple(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


def read_snapshot(conn: Connection) -> Snapshot:
    """Read every reference table on `conn` (the caller opens one transaction) and encode."""
    started = time.perf_counter()
    version = conn.execute(
        select(ReferenceVersion.version).where(ReferenceVersion.id == 1)
    ).scalar_one()
    country_rows = _rows(conn, Country, Country.alpha_2)
    currency_rows = _rows(conn, Currency, Currency.code)
    subdivision_rows = _rows(conn, Subdivision, Subdivision.code)
    province_rows = _rows(conn, VnProvince, VnProvince.code)
    ward_rows = _rows(conn, VnWard, VnWard.code)
    setting_rows = _rows(conn, Setting, Setting.key)

    countries = [_item(r, r["name"], r["official_name"]) for r in country_rows]
    country_by_code: dict[str, Item] = {}
    for item in countries:
        for code_field in ("alpha_2", "alpha_3", "numeric"):
            country_by_code[item.record[code_field]] = item

    currencies = [_item(r) for r in currency_rows]
    subdivisions_grouped: dict[str, list[dict[str, Any]]] = {}
    for row in subdivision_rows:
        subdivisions_grouped.setdefault(row["country_code"], []).append(row)
    provinces = [_item(r, r["name"], r["codename"]) for r in province_rows]
    wards = [_item(r, r["name"], r["codename"]) for r in ward_rows]

    setting_values: dict[str, SettingValue] = {}
    settings = []
    for row in setting_rows:
        try:
            value = parse_setting(row["value"], row["value_type"])
        except ValueError as exc:
            raise SnapshotError(f"setting {row['key']!r}: {exc}") from None
        setting_values[row["key"]] = value
        settings.append(_item({**row, "value": value}))

    subdivisions_by_country = {
        country: Collection.encoded(rows) for country, rows in subdivisions_grouped.items()
    }
    wards_by_province = _grouped(wards, "province_code")
    return Snapshot(
        version=version,
        loaded_at=datetime.now(UTC),
        loaded_monotonic=time.monotonic(),
        load_ms=(time.perf_counter() - started) * 1000,
        row_counts={
            "country": len(countries),
            "currency": len(currencies),
            "subdivision": len(subdivision_rows),
            "vn_province": len(provinces),
            "vn_ward": len(wards),
            "setting": len(settings),
        },
        countries=Collection.of(countries),
        country_by_code=country_by_code,
        subdivisions_by_country=subdivisions_by_country,
        currencies=Collection.of(currencies),
        currency_by_code={item.record["code"]: item for item in currencies},
        provinces=Collection.of(provinces),
        province_by_code={item.record["code"]: item for item in provinces},
        wards_by_province=wards_by_province,
        ward_by_code={item.record["code"]: item for item in wards},
        settings=Collection.of(settings),
        setting_by_key={item.record["key"]: item for item in settings},
        setting_values=setting_values,
    )


class CacheUnavailable(RuntimeError):
    """No snapshot can be served: never loaded, or too stale to serve; try again later."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Outcome(StrEnum):
    """What the cache did for one request (logged, and counted as metrics)."""

    HIT = "hit"  # fresh snapshot, no SQL
    REVALIDATED = "revalidated"  # TTL passed; version unchanged; clock restarted (1 SELECT)
    RELOADED = "reloaded"  # TTL passed; version changed; everything read again
    LOADED = "loaded"  # a cold cache loaded its first snapshot
    STALE = "stale"  # revalidation failed; last good snapshot served (stale-if-error)
    UNAVAILABLE = "unavailable"  # nothing servable: 503


@dataclass(frozen=True, slots=True)
class Freshness:
    """Cache timing policy, from settings."""

    ttl_seconds: float = 300  # 0: never revalidate
    max_stale_seconds: float = 3600  # how long past its TTL a snapshot may be served on errors
    retry_seconds: float = 2  # first back-off after a failed attempt; doubles each time
    retry_max_seconds: float = 60


class ReferenceCache:
    """Holds the current Snapshot of one execution environment and keeps it fresh.

    Within the TTL a read is a pointer load. Past it, one caller (single-flight) asks the
    database for the reference version; the snapshot is reloaded only if it changed. Other
    callers keep the current snapshot meanwhile. A failed attempt keeps the last good
    snapshot (stale-if-error, up to max_stale past the TTL) and backs off exponentially.
    """

    def __init__(
        self,
        engine: Engine,
        policy: Freshness | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self.policy = policy or Freshness()
        self._clock = clock
        self._current: Snapshot | None = None
        self._verified_at = 0.0  # clock() of the last successful load or revalidation
        self._lock = threading.Lock()
        self._failures = 0
        self._next_attempt = 0.0
        self._invalidated = False
        self.last_error: str | None = None
        self.counters = {"loads": 0, "revalidations": 0, "reloads": 0, "failures": 0, "stale": 0}

    @property
    def current(self) -> Snapshot | None:
        return self._current

    def load(self) -> Snapshot:
        """Read all reference tables in one transaction and swap the new snapshot in."""
        # A snapshot is ~100k objects that live until the next reload: collecting while
        # building it is wasted work (measured: full collections of 50 ms each at INIT),
        # and once built they are frozen out of every later collection.
        collecting = gc.isenabled()
        gc.disable()
        try:
            snapshot = self._read()
        finally:
            if collecting:
                gc.enable()
        self._swap(snapshot)
        gc.freeze()
        logger.info(
            "reference cache loaded",
            extra={"version": snapshot.version, "load_ms": round(snapshot.load_ms, 1)},
        )
        return snapshot

    def _read(self) -> Snapshot:
        with self._engine.connect() as pooled:
            conn = pooled
            if conn.dialect.name == "postgresql":
                # One consistent view across all tables; READ ONLY costs nothing extra.
                conn = pooled.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            with conn.begin():
                if conn.dialect.name == "sqlite":
                    # pysqlite does not open a transaction before a SELECT; do it ourselves
                    # so every table is read from the same state of the file.
                    conn.exec_driver_sql("BEGIN")
                return read_snapshot(conn)

    def _swap(self, snapshot: Snapshot) -> None:
        self._current = snapshot
        self._verified_at = self._clock()
        self._invalidated = False
        self._failures = 0
        self._next_attempt = 0.0
        self.last_error = None

    def current_version(self) -> int:
        """The database's reference version: the one cheap question a revalidation asks."""
        with self._engine.connect() as conn:
            version: int = conn.execute(
                select(ReferenceVersion.version).where(ReferenceVersion.id == 1)
            ).scalar_one()
        return version

    def refresh(self) -> Outcome:
        """Load a cold cache, or revalidate a warm one. Records, never raises, a failure."""
        current = self._current
        try:
            if current is None:
                self.load()
                self.counters["loads"] += 1
                return Outcome.LOADED
            self.counters["revalidations"] += 1
            if self.current_version() == current.version:
                self._verified_at = self._clock()
                self._invalidated = False
                self._failures = 0
                self.last_error = None
                return Outcome.REVALIDATED
            self.load()
            self.counters["reloads"] += 1
            return Outcome.RELOADED
        except (SQLAlchemyError, SnapshotError) as exc:
            self._failed(exc)
            return Outcome.UNAVAILABLE if current is None else Outcome.STALE

    def try_load(self) -> Snapshot | None:
        """INIT and SnapStart restore: load now, or record why not (never raises)."""
        try:
            snapshot = self.load()
        except (SQLAlchemyError, SnapshotError) as exc:
            self._failed(exc)
            return None
        self.counters["loads"] += 1
        return snapshot

    def _failed(self, exc: Exception) -> None:
        # The class name says what went wrong without echoing SQL or a password.
        self.counters["failures"] += 1
        self._failures += 1
        delay = min(
            self.policy.retry_seconds * 2 ** (self._failures - 1), self.policy.retry_max_seconds
        )
        self._next_attempt = self._clock() + delay
        self.last_error = f"{type(exc).__name__}: reference data could not be loaded"
        logger.error(
            "reference cache refresh failed",
            extra={"error": type(exc).__name__, "attempt": self._failures, "retry_in_s": delay},
        )

    def invalidate(self) -> None:
        """Make the next read revalidate (after an admin write in this environment), with
        stale-if-error still counted from now; with a TTL of 0 too."""
        self._verified_at = min(self._verified_at, self._clock() - self.policy.ttl_seconds)
        self._invalidated = True

    def _expired(self, now: float) -> bool:
        ttl = self.policy.ttl_seconds
        return (
            self._current is None
            or self._invalidated
            or (ttl > 0 and now - self._verified_at >= ttl)
        )

    def stale_seconds(self, now: float | None = None) -> float | None:
        """How far past its TTL the current snapshot is, or None while it is fresh."""
        now = self._clock() if now is None else now
        if self._current is None or not self._expired(now):
            return None
        return max(0.0, now - self._verified_at - self.policy.ttl_seconds)

    def snapshot(self) -> Snapshot:
        """The snapshot to serve; may refresh inline (sync routes, health, SnapStart)."""
        now = self._clock()
        current = self._current
        if current is not None and not self._expired(now):
            note(Outcome.HIT, None)  # the warm path: a clock read and two compares
            return current
        if now >= self._next_attempt and self._lock.acquire(blocking=False):
            try:
                return self._serve(self.refresh())
            finally:
                self._lock.release()
        return self._serve_expired()

    async def asnapshot(self) -> Snapshot:
        """The snapshot to serve from an async route: a refresh runs in a worker thread,
        so the event loop (other requests under uvicorn) never waits for the database."""
        now = self._clock()
        current = self._current
        if current is not None and not self._expired(now):
            note(Outcome.HIT, None)  # the warm path: a clock read and two compares
            return current
        if now >= self._next_attempt and self._lock.acquire(blocking=False):
            try:
                outcome = await anyio.to_thread.run_sync(self.refresh)
            finally:
                self._lock.release()
            return self._serve(outcome)
        return self._serve_expired()

    def _serve_expired(self) -> Snapshot:
        # Someone else is refreshing, or we are backing off after a failure.
        if self._current is not None and self._failures == 0:
            return self._serve(Outcome.HIT)  # in flight elsewhere: serve without waiting
        return self._serve(Outcome.STALE if self._current is not None else Outcome.UNAVAILABLE)

    def _serve(self, outcome: Outcome) -> Snapshot:
        current = self._current
        stale = self.stale_seconds() if outcome is Outcome.STALE else None
        if current is None or (stale is not None and stale > self.policy.max_stale_seconds):
            retry_after = max(1, math.ceil(self._next_attempt - self._clock()))
            note(Outcome.UNAVAILABLE, None)
            raise CacheUnavailable(self.last_error or "reference data is loading", retry_after)
        if outcome is Outcome.STALE:
            self.counters["stale"] += 1
        note(outcome, stale)
        return current


cache = ReferenceCache(
    engine,
    Freshness(
        ttl_seconds=settings.cache_ttl_seconds,
        max_stale_seconds=settings.cache_max_stale_seconds,
        retry_seconds=settings.cache_retry_seconds,
        retry_max_seconds=settings.cache_retry_max_seconds,
    ),
)
cache.try_load()
