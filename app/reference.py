"""The reference-data cache: every table read once into an immutable, pre-encoded Snapshot.

Readers call `cache.snapshot()` and get whatever snapshot is current; they never lock and
never touch the database while one is loaded. A reload builds a whole new Snapshot and
swaps a single attribute, so nobody sees half of an update.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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


@dataclass(frozen=True, slots=True)
class Item:
    """One record as served: its fields, its JSON and its ETag, plus text to search."""

    record: Mapping[str, Any]
    body: bytes
    etag: str
    folded: str


@dataclass(frozen=True, slots=True)
class Collection:
    """A list response, encoded once; searches join the bytes of the items that match."""

    items: tuple[Item, ...]
    body: bytes
    etag: str

    @classmethod
    def of(cls, items: Iterable[Item]) -> Collection:
        items = tuple(items)
        body = b"[" + b",".join(item.body for item in items) + b"]"
        return cls(items, body, etag_of(body))

    def search(self, folded_query: str) -> Collection:
        """The items whose folded text contains the (already folded) query."""
        return Collection.of(item for item in self.items if folded_query in item.folded)


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


def parse_setting(value: str, value_type: str) -> SettingValue:
    if value_type == "int":
        return int(value)
    if value_type == "bool":
        if value not in ("true", "false"):
            raise ValueError("a bool setting must be 'true' or 'false'")
        return value == "true"
    if value_type == "str":
        return value
    raise ValueError(f"unknown value type {value_type!r}")


def _item(record: Mapping[str, Any], *searchable: str | None) -> Item:
    """Encode one record; only records of searchable lists pay for folding their names."""
    body = orjson.dumps(record)
    folded = fold(" ".join(s for s in searchable if s)) if searchable else ""
    return Item(record, body, etag_of(body), folded)


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
        for field in ("alpha_2", "alpha_3", "numeric"):
            country_by_code[item.record[field]] = item

    currencies = [_item(r) for r in currency_rows]
    subdivisions = [_item(r) for r in subdivision_rows]
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

    subdivisions_by_country = _grouped(subdivisions, "country_code")
    wards_by_province = _grouped(wards, "province_code")
    return Snapshot(
        version=version,
        loaded_at=datetime.now(UTC),
        loaded_monotonic=time.monotonic(),
        load_ms=(time.perf_counter() - started) * 1000,
        row_counts={
            "country": len(countries),
            "currency": len(currencies),
            "subdivision": len(subdivisions),
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
    """No snapshot has been loaded yet (the database was unreachable); try again later."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class ReferenceCache:
    """Holds the current Snapshot of one execution environment."""

    def __init__(
        self,
        engine: Engine,
        retry_seconds: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._current: Snapshot | None = None
        self._lock = threading.Lock()
        self._next_attempt = 0.0
        self.last_error: str | None = None

    @property
    def current(self) -> Snapshot | None:
        return self._current

    def load(self) -> Snapshot:
        """Read all reference tables in one transaction and swap the new snapshot in."""
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
                snapshot = read_snapshot(conn)
        self._current = snapshot
        self.last_error = None
        logger.info(
            "reference cache loaded",
            extra={"version": snapshot.version, "load_ms": round(snapshot.load_ms, 1)},
        )
        return snapshot

    def try_load(self) -> Snapshot | None:
        """Load, or record why not; never raises for a database or data problem."""
        try:
            return self.load()
        except (SQLAlchemyError, SnapshotError) as exc:
            # The class name says what went wrong without echoing SQL or a password.
            self.last_error = f"{type(exc).__name__}: reference data could not be loaded"
            logger.error("reference cache load failed", extra={"error": type(exc).__name__})
            return None
        finally:
            self._next_attempt = self._clock() + self._retry_seconds

    def snapshot(self) -> Snapshot:
        """The current snapshot; a cold cache tries to load, at most once per retry period."""
        current = self._current
        if current is not None:
            return current
        # Only one caller retries; the others answer 503 at once instead of queueing.
        if self._clock() >= self._next_attempt and self._lock.acquire(blocking=False):
            try:
                if self._current is None and self._clock() >= self._next_attempt:
                    loaded = self.try_load()
                    if loaded is not None:
                        return loaded
            finally:
                self._lock.release()
        if self._current is not None:
            return self._current
        raise CacheUnavailable(self.last_error or "reference data is loading", self._retry_seconds)


cache = ReferenceCache(engine, settings.cache_retry_seconds)
cache.try_load()
