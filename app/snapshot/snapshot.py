"""The snapshot: every dataset (app/datasets.py) read in one transaction into an immutable,
pre-encoded whole. Readers hold a reference and never lock; a reload builds a new one."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import orjson
from sqlalchemy import Connection, select

from app.datasets import DATASETS, Dataset, Grouping
from app.kit.text import etag_of, fold
from app.models import ReferenceVersion


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
