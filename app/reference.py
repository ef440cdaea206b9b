"""The reference-data cache: every dataset (app/datasets.py) read once into an immutable,
pre-encoded Snapshot.

Readers call `cache.snapshot()` (the process's cache is built by app/init.py) and get
whatever snapshot is current; they never lock and never touch the database while one is
loaded. A reload builds a whole new Snapshot and swaps a single attribute, so nobody sees
half of an update.
"""

from __future__ import annotations

import gc
import hashlib
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import anyio.to_thread
import orjson
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import SQLAlchemyError

from app.datasets import DATASETS, Dataset, Grouping
from app.kit.backoff import Backoff
from app.kit.logs import logger
from app.kit.runtime import note
from app.kit.settings import Settings
from app.models import ReferenceVersion

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


class _Encoded:
    """A response body: its JSON and ETag, made on first use. (Made twice in two threads,
    they are the same bytes, so the memo needs no lock.)"""

    __slots__ = ("_body", "_etag")  # each subclass sets both to None (no super() call:
    # tens of thousands of Items are made when a snapshot is indexed)
    _body: bytes | None
    _etag: str | None

    def _content(self) -> Any:
        raise NotImplementedError

    @property
    def body(self) -> bytes:
        if self._body is None:
            self._body = orjson.dumps(self._content())
        return self._body

    @property
    def etag(self) -> str:
        if self._etag is None:
            self._etag = etag_of(self.body)
        return self._etag


class Item(_Encoded):
    """One record as served: its fields, its JSON and its ETag. The JSON is encoded on the
    first request for this record, not at INIT: lists are encoded whole, and most records
    are never asked for alone."""

    __slots__ = ("record",)

    def __init__(self, record: Mapping[str, Any]) -> None:
        self.record = record
        self._body = self._etag = None

    def _content(self) -> Any:
        return self.record


class Collection(_Encoded):
    """A list response: its items, and their JSON, encoded once (at INIT for a dataset's
    list route; on first use for the rest). Searches join the bytes of the items that
    match; the folded text they match is made by the first search (no lock, as above)."""

    __slots__ = ("_folded", "items", "search_fields")

    def __init__(self, items: tuple[Item, ...], search_fields: tuple[str, ...] = ()) -> None:
        self._body = self._etag = None
        self.items = items
        self.search_fields = search_fields  # what `q` matches
        self._folded: tuple[str, ...] | None = None  # per item, filled by the first search

    @classmethod
    def of(cls, items: Iterable[Item], search_fields: tuple[str, ...] = ()) -> Collection:
        return cls(tuple(items), search_fields)

    def _content(self) -> Any:
        return [item.record for item in self.items]  # one orjson call for the whole list

    def encoded(self) -> Collection:
        """Itself, with its JSON and ETag made now."""
        _ = self.etag
        return self

    def search(self, folded_query: str) -> Collection:
        """The items whose folded text contains the (already folded) query."""
        if self._folded is None:
            fields = self.search_fields
            self._folded = tuple(
                fold(" ".join(str(item.record[f]) for f in fields if item.record[f]))
                for item in self.items
            )
        folded = self._folded
        return Collection.of(
            (item for item, text in zip(self.items, folded, strict=True) if folded_query in text),
            self.search_fields,
        )


EMPTY = Collection.of(())


def _grouped(
    items: Iterable[Item], grouping: Grouping, search: tuple[str, ...]
) -> dict[Any, Collection]:
    """One collection per parent; each is encoded on its first request (they are many, and
    most are never asked for)."""
    groups: dict[Any, list[Item]] = {}
    name = grouping.field
    for item in items:
        groups.setdefault(item.record[name], []).append(item)
    return {value: Collection.of(members, search) for value, members in groups.items()}


Row = Sequence[Any]  # a table row as the driver returned it, the schema's fields in order


class Data:
    """One dataset in a snapshot: every record, each by any of its keys, and its groupings.

    Made from the rows read in the snapshot's transaction. A dataset declared `at_init` is
    indexed (and its served lists encoded) right away; the others keep their rows, as the
    driver returned them, until first use: no SQL then, only the indexing deferred. (Indexing
    twice in two threads gives equal results, so the memo needs no lock.)
    """

    __slots__ = ("_indexed", "_rows", "count", "dataset")

    def __init__(self, dataset: Dataset, rows: Sequence[Row]) -> None:
        self.dataset = dataset
        self.count = len(rows)
        self._rows: Sequence[Row] | None = rows
        self._indexed: _Indexed | None = None
        if dataset.at_init:
            self._index()

    @classmethod
    def of(cls, dataset: Dataset, records: Iterable[Mapping[str, Any]]) -> Data:
        """From records (the schema's fields by name), indexed now."""
        fields = tuple(dataset.schema.model_fields)
        data = cls(dataset, [tuple(record[name] for name in fields) for record in records])
        data._index()
        return data

    def replace(self, *, by_key: Mapping[Any, Item]) -> Data:
        """A copy whose lookups by key find exactly these items (for tests)."""
        copy = Data(self.dataset, ())
        copy.count = self.count
        copy._indexed = _Indexed(self.all, by_key, self.groups)
        return copy

    def _index(self) -> _Indexed:
        indexed = self._indexed
        if indexed is None:
            indexed = self._indexed = _Indexed.of(self.dataset, self._rows or ())
            self._rows = None
        return indexed

    @property
    def all(self) -> Collection:
        return (self._indexed or self._index()).all

    @property
    def by_key(self) -> Mapping[Any, Item]:
        return (self._indexed or self._index()).by_key

    @property
    def groups(self) -> Mapping[str, Mapping[Any, Collection]]:
        """Grouping field → its value (the parent's primary key) → those records."""
        return (self._indexed or self._index()).groups


@dataclass(frozen=True, slots=True)
class _Indexed:
    all: Collection
    by_key: Mapping[Any, Item]
    groups: Mapping[str, Mapping[Any, Collection]]

    @classmethod
    def of(cls, dataset: Dataset, rows: Iterable[Row]) -> _Indexed:
        search = dataset.search
        keys = dataset.key.fields if dataset.key is not None else ()
        items = [Item(record) for record in _served(dataset, rows)]
        every = Collection.of(items, search)
        return cls(
            every.encoded() if dataset.list_route is not None else every,
            {item.record[name]: item for name in keys for item in items},
            {grouping.field: _grouped(items, grouping, search) for grouping in dataset.groups},
        )


def _served(dataset: Dataset, rows: Iterable[Row]) -> list[dict[str, Any]]:
    """Rows → the records served: by field name, booleans as booleans (SQLite returns 0
    and 1), then the dataset's own `record` step. SnapshotError: a row it cannot serve."""
    fields = tuple(dataset.schema.model_fields)
    records = [dict(zip(fields, row, strict=True)) for row in rows]
    flags = [name for name, info in dataset.schema.model_fields.items() if info.annotation is bool]
    for name in flags:
        for record in records:
            record[name] = bool(record[name])
    if dataset.record is None:
        return records
    served = []
    for record in records:
        try:
            served.append(dataset.record(record))
        except ValueError as exc:
            named = record[dataset.key.fields[0]] if dataset.key is not None else record
            raise SnapshotError(f"{dataset.noun} {named!r}: {exc}") from None
    return served


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    loaded_at: datetime
    loaded_monotonic: float
    load_ms: float
    datasets: Mapping[str, Data]  # by Dataset.name, in registry order
    # Answers derived from this snapshot, built when first asked for (app/conversion.py).
    # Not an __init__ field: dataclasses.replace gives the copy a memo of its own.
    memo: dict[str, Any] = field(init=False, default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Read-only, so no reader can swap a dataset out of a snapshot others hold.
        object.__setattr__(self, "datasets", MappingProxyType(dict(self.datasets)))

    def __getitem__(self, dataset: Dataset) -> Data:
        """`snapshot[VN_WARDS].by_key[26740]`: one dataset's part."""
        return self.datasets[dataset.name]

    @property
    def row_counts(self) -> dict[str, int]:
        """Rows read per table."""
        return {data.dataset.table.__tablename__: data.count for data in self.datasets.values()}

    def age_seconds(self) -> float:
        return time.monotonic() - self.loaded_monotonic


class SnapshotError(ValueError):
    """The database holds reference data that cannot be served (e.g. a mistyped setting)."""


_SELECTS: dict[tuple[str, str], str] = {}


def _rows(conn: Connection, dataset: Dataset) -> Sequence[Row]:
    """The dataset's rows, its schema's fields only, in primary-key order: as the driver
    returns them (SQLAlchemy's per-row result processing is most of the cost of a load, and
    these columns need none but SQLite's booleans, which `_served` converts)."""
    key = (dataset.name, conn.dialect.name)
    sql = _SELECTS.get(key)
    if sql is None:
        # Written out, not compiled from a select(): compiling costs every INIT time, and
        # SQL this plain needs no compiler.
        quote = conn.dialect.identifier_preparer.quote
        table = dataset.table.metadata.tables[dataset.table.__tablename__]
        columns = ", ".join(quote(table.columns[name].name) for name in dataset.schema.model_fields)
        order = ", ".join(quote(column.name) for column in table.primary_key)
        # Identifiers from the models, quoted by the dialect; no value from outside.
        sql = f"SELECT {columns} FROM {quote(table.name)} ORDER BY {order}"  # noqa: S608
        _SELECTS[key] = sql
    result = conn.exec_driver_sql(sql)
    try:
        rows: Sequence[Row] = result.cursor.fetchall()
    finally:
        result.close()
    return rows


def read_snapshot(conn: Connection) -> Snapshot:
    """Read every dataset on `conn` (the caller opens one transaction) and encode it."""
    started = time.perf_counter()
    version = conn.execute(
        select(ReferenceVersion.version).where(ReferenceVersion.id == 1)
    ).scalar_one()
    datasets = {dataset.name: Data(dataset, _rows(conn, dataset)) for dataset in DATASETS}
    return Snapshot(
        version=version,
        loaded_at=datetime.now(UTC),
        loaded_monotonic=time.monotonic(),
        load_ms=(time.perf_counter() - started) * 1000,
        datasets=datasets,
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

    @classmethod
    def of(cls, config: Settings) -> Freshness:
        return cls(
            ttl_seconds=config.cache_ttl_seconds,
            max_stale_seconds=config.cache_max_stale_seconds,
            retry_seconds=config.cache_retry_seconds,
            retry_max_seconds=config.cache_retry_max_seconds,
        )


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
        self._backoff = Backoff(self.policy.retry_seconds, self.policy.retry_max_seconds, clock)
        self._invalidated = False
        self.last_error: str | None = None
        self.counters = {"loads": 0, "revalidations": 0, "reloads": 0, "failures": 0, "stale": 0}

    @property
    def current(self) -> Snapshot | None:
        return self._current

    def load(self) -> Snapshot:
        """Read all reference tables in one transaction and swap the new snapshot in."""
        # A snapshot is a great many objects that live until the next reload: collecting
        # while building it is wasted work (full collections, at INIT), and once built they
        # are frozen out of every later collection.
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
        self._backoff.succeeded()
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
                self._backoff.succeeded()
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
        delay = self._backoff.failed()
        self.last_error = f"{type(exc).__name__}: reference data could not be loaded"
        logger.error(
            "reference cache refresh failed",
            extra={
                "error": type(exc).__name__,
                "attempt": self._backoff.failures,
                "retry_in_s": delay,
            },
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
        if self._backoff.ready(now) and self._lock.acquire(blocking=False):
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
        if self._backoff.ready(now) and self._lock.acquire(blocking=False):
            try:
                outcome = await anyio.to_thread.run_sync(self.refresh)
            finally:
                self._lock.release()
            return self._serve(outcome)
        return self._serve_expired()

    def _serve_expired(self) -> Snapshot:
        # Someone else is refreshing, or we are backing off after a failure.
        if self._current is not None and self._backoff.failures == 0:
            return self._serve(Outcome.HIT)  # in flight elsewhere: serve without waiting
        return self._serve(Outcome.STALE if self._current is not None else Outcome.UNAVAILABLE)

    def _serve(self, outcome: Outcome) -> Snapshot:
        current = self._current
        stale = self.stale_seconds() if outcome is Outcome.STALE else None
        if current is None or (stale is not None and stale > self.policy.max_stale_seconds):
            note(Outcome.UNAVAILABLE, None)
            raise CacheUnavailable(
                self.last_error or "reference data is loading", self._backoff.retry_after()
            )
        if outcome is Outcome.STALE:
            self.counters["stale"] += 1
        note(outcome, stale)
        return current
