"""The cache itself: folding for search, loading in one transaction, immutable snapshots."""

from __future__ import annotations

import dataclasses

import pytest

from app.datasets import COUNTRIES, CURRENCIES, DATASETS, Dataset, parse_setting
from app.init import cache
from app.kit.text import fold
from app.snapshot.cache import ReferenceCache
from app.snapshot.snapshot import Snapshot
from harness.datasets import example_of
from harness.sql import ServerStatements, SqlWindow


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Thành phố Hồ Chí Minh", "thanh pho ho chi minh"),
        ("Đà Nẵng", "da nang"),
        ("Côte d'Ivoire", "cote d ivoire"),
        ("  HO--CHI   minh!! ", "ho chi minh"),
        ("Åland Islands", "aland islands"),
        ("Xã Văn Lăng", "xa van lang"),
        ("!!!", ""),
    ],
)
def test_fold_removes_case_accents_and_punctuation(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.parametrize(
    ("value", "value_type", "parsed"),
    [
        ("42", "int", 42),
        (str(2**63 - 1), "int", 2**63 - 1),
        ("true", "bool", True),
        ("false", "bool", False),
        ("VND", "str", "VND"),
    ],
)
def test_settings_parse_by_type(value: str, value_type: str, parsed: object) -> None:
    assert parse_setting(value, value_type) == parsed


@pytest.mark.parametrize(
    ("value", "value_type"),
    [
        ("4x", "int"),
        ("yes", "bool"),
        ("1", "float"),
        (str(2**63), "int"),  # orjson cannot encode it: the snapshot could never be built
        (str(-(2**63) - 1), "int"),
    ],
)
def test_mistyped_settings_are_refused(value: str, value_type: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_setting(value, value_type)


def test_a_load_reads_each_table_once_on_the_pooled_connection(
    sql: SqlWindow, server_statements: ServerStatements | None
) -> None:
    from app.init import engine

    fresh = ReferenceCache(engine)
    snapshot = fresh.load()
    selects = [s for s in sql.statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1 + len(DATASETS)  # the version, then each dataset's table
    assert sql.connects == 0  # INIT's connection is reused
    assert sql.checkouts == 1
    assert snapshot.row_counts["vn_ward"] == 3321
    if server_statements is not None:
        assert server_statements.count() >= len(selects)  # the server's counter sees the app


def test_snapshots_are_immutable() -> None:
    snapshot = cache.snapshot()
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.version = 2  # type: ignore[misc]
    with pytest.raises(TypeError):  # no dataset can be swapped out of a held snapshot
        snapshot.datasets[COUNTRIES.name] = snapshot[CURRENCIES]  # type: ignore[index]
    with pytest.raises(TypeError):
        del snapshot.datasets[COUNTRIES.name]  # type: ignore[attr-defined]
    assert snapshot[COUNTRIES].dataset is COUNTRIES


def test_a_reload_swaps_in_a_new_snapshot_and_readers_keep_theirs() -> None:
    from app.init import engine

    other = ReferenceCache(engine)
    held: Snapshot = other.load()
    other.load()
    assert other.snapshot() is not held
    assert held[COUNTRIES].all.body == other.snapshot()[COUNTRIES].all.body  # same data, new object


@pytest.mark.parametrize("dataset", DATASETS, ids=lambda dataset: dataset.name)
def test_documented_examples_are_real_records(dataset: Dataset) -> None:
    records = [item.record for item in cache.snapshot()[dataset].all.items]
    assert example_of(dataset) in records
