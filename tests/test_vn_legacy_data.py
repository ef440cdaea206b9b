"""Vietnam before 1 July 2025: the official conversion table, its fixes, and what is seeded.

Each defect of the table has a test here that fails without its fix in
scripts/vn_conversion.py, run on the raw table committed in scripts/data/; the rest check the
migrated database (SQLite or PostgreSQL) against the corrected table.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from harness.databases import Database
from scripts import vn_conversion
from scripts.vn_conversion import Row

CREATED = {3980, 3983, 3984, 26929, 26953, 27076, 27226, 27232, 27367, 27373}


@pytest.fixture(scope="module")
def raw() -> list[Row]:
    return vn_conversion.read_table()


@pytest.fixture(scope="module")
def table(raw: list[Row]) -> list[Row]:
    return vn_conversion.correct(raw)


@pytest.fixture
def db(database: Database) -> Iterator[Connection]:
    engine = create_engine(database.url, poolclass=NullPool)
    with engine.connect() as conn:
        yield conn
    engine.dispose()


def successors(rows: list[Row]) -> dict[int, set[int]]:
    found: dict[int, set[int]] = defaultdict(set)
    for row in rows:
        if row.old_ward is not None:
            found[row.old_ward].add(row.new_ward)
    return found


def test_the_raw_table_is_the_official_one(raw: list[Row]) -> None:
    assert sum(row.old_ward is not None for row in raw) == 10_565
    assert len({row.old_ward for row in raw if row.old_ward is not None}) == 10_033
    assert len({row.new_ward for row in raw}) == 3_321


def test_the_two_typo_codes_are_corrected(raw: list[Row], table: list[Row]) -> None:
    before = successors(raw)
    assert before[1615] == {1636, 1648}  # Xã Hồng Quang, and Xã Mỹ Hưng under its typo
    assert 1651 not in before
    after = successors(table)
    assert after[1615] == {1636}  # Xã Hồng Quang → Xã Bế Văn Đàn
    assert after[1651] == {1648}  # Xã Mỹ Hưng → Xã Phục Hòa
    assert after[2485] == {2458}  # Xã Công Đa → Xã Trung Sơn
    assert after[2482] == {2494}  # Xã Phú Thịnh → Xã Thái Bình


def test_the_two_wrong_province_tags_are_corrected(raw: list[Row], table: list[Row]) -> None:
    def new_provinces_of(rows: list[Row]) -> dict[int, set[int]]:
        found: dict[int, set[int]] = defaultdict(set)
        for old, new in vn_conversion.province_conversions(rows):
            found[old].add(new)
        return found

    assert new_provinces_of(raw)[82] == {80, 82}  # the defect: Tiền Giang split in two
    fixed = new_provinces_of(table)
    assert fixed[82] == {82}  # Tiền Giang → Đồng Tháp
    assert fixed[80] == {80}  # Long An → Tây Ninh
    assert fixed[91] == {91}
    assert all(len(new) == 1 for new in fixed.values())
    assert len(fixed) == 63
    by_code = {row.old_ward: row for row in table}
    assert by_code[27691].old_province == 80
    assert by_code[30781].old_province == 91


def test_island_districts_become_their_special_zones(table: list[Row], db: Connection) -> None:
    rows = db.execute(
        text(
            "SELECT c.old_district_code, d.name, w.name, c.kind FROM vn_district_conversion c"
            " JOIN vn_legacy_district d ON d.code = c.old_district_code"
            " JOIN vn_ward w ON w.code = c.new_ward_code"
        )
    ).all()
    zones = {code: (district, ward, kind) for code, district, ward, kind in rows}
    generated = {
        old: (new, kind) for old, new, kind, _ in vn_conversion.district_conversions(table)
    }
    assert set(vn_conversion.ISLAND_DISTRICTS) <= set(generated)
    for code, name in vn_conversion.ISLAND_DISTRICTS.items():
        district, ward, kind = zones[code]
        assert district == f"Huyện {name}"
        assert ward == f"Đặc khu {name}"
        assert kind == "whole"
        # No ward of the district is in the table: the district row is its only successor.
        assert not any(row.old_district == code and row.old_ward for row in table)


def test_wards_created_and_abolished_in_2025_are_served_and_marked(
    table: list[Row], db: Connection
) -> None:
    created = {
        code
        for (code,) in db.execute(text("SELECT code FROM vn_legacy_ward WHERE NOT listed_2025_01"))
    }
    abolished = {
        code
        for (code,) in db.execute(
            text("SELECT code FROM vn_legacy_ward WHERE NOT existed_2025_06_30")
        )
    }
    assert created == CREATED
    listed = {code for (code,) in db.execute(text("SELECT code FROM vn_legacy_ward"))} - created
    assert {row.old_ward for row in vn_conversion.created_wards(table, listed)} == CREATED
    assert len(abolished) == 26
    assert not created & abolished
    converted = {
        code
        for (code,) in db.execute(text("SELECT DISTINCT old_ward_code FROM vn_ward_conversion"))
    }
    assert created <= converted  # created by June, converted in July
    assert not abolished & converted  # gone before the conversion
    types = db.execute(
        text("SELECT code, division_type FROM vn_legacy_ward WHERE code IN (3980, 26929)")
    ).all()
    assert sorted((code, kind) for code, kind in types) == [(3980, "phường"), (26929, "phường")]


def test_every_old_ward_converts_to_what_the_table_gives(table: list[Row], db: Connection) -> None:
    seeded: dict[int, set[int]] = defaultdict(set)
    for old, new in db.execute(text("SELECT old_ward_code, new_ward_code FROM vn_ward_conversion")):
        seeded[old].add(new)
    assert seeded == successors(table)
    counts = [len(new) for new in seeded.values()]
    assert len(counts) == 10_035
    assert counts.count(1) == 9_596
    assert sum(n > 1 for n in counts) == 439
    assert max(counts) == 5


def test_every_new_ward_has_a_predecessor(db: Connection) -> None:
    orphans = db.execute(
        text(
            "SELECT count(*) FROM vn_ward w WHERE NOT EXISTS"
            " (SELECT 1 FROM vn_ward_conversion c WHERE c.new_ward_code = w.code)"
            " AND NOT EXISTS"
            " (SELECT 1 FROM vn_district_conversion d WHERE d.new_ward_code = w.code)"
        )
    ).scalar_one()
    assert orphans == 0


def test_every_note_has_a_kind_and_the_whole_population_default_is_marked(
    raw: list[Row], db: Connection
) -> None:
    kinds = {vn_conversion.kind_of(row.note) for row in raw}  # an unknown note raises
    assert {kind for kind, _ in kinds} == {"whole", "part", "unchanged"}
    assert vn_conversion.kind_of("Nhâp một phần diện tích") == ("part", False)  # as spelled
    assert vn_conversion.kind_of("Nhập một phần diện tích, toàn bộ dân số") == ("part", True)
    defaults = db.execute(
        text("SELECT count(*) FROM vn_ward_conversion WHERE whole_population")
    ).scalar_one()
    assert defaults == 58
    # A default belongs to a split ward: its other successors took part of it.
    split_defaults = db.execute(
        text(
            "SELECT count(DISTINCT c.old_ward_code) FROM vn_ward_conversion c"
            " WHERE c.whole_population AND EXISTS (SELECT 1 FROM vn_ward_conversion o"
            " WHERE o.old_ward_code = c.old_ward_code AND o.new_ward_code <> c.new_ward_code)"
        )
    ).scalar_one()
    assert split_defaults == defaults  # every default, each on a ward of its own
