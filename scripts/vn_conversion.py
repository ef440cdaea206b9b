"""Vietnam's official old→new conversion table (1 July 2025), read and corrected.

`scripts/data/vn-2025-conversion-table.csv` is the official table "Bảng chuyển đổi ĐVHC
mới-cũ" (see scripts/data/README.md): one row per (new ward, old ward) pair, with the note
that says how the old unit went into the new one. `read_table` parses it, `correct` applies
the fixes below, and `ward_conversions` / `district_conversions` / `province_conversions`
give the rows scripts/generate_data.py writes. Standard library only, so the tests can run
the fixes on the raw table without the data packages.

The table's defects, each confirmed against vietnam-provinces' legacy list (January 2025):

* two old codes are typos: Xã Mỹ Hưng is listed as 01615 (its code is 01651) and Xã Phú
  Thịnh as 02485 (its code is 02482), so 01615 and 02485 each got a wrong second successor
  and 01651 and 02482 none;
* two old-province tags are wrong: ward 27691 (Phường 4, Tân An) is tagged 82 instead of 80,
  and ward 30781 (Tiên Hải) 89 instead of 91; the first made old province 82 map to two new
  provinces;
* five island districts had no wards: their rows have no old ward code, only the district
  (318 Bạch Long Vĩ, 471 Cồn Cỏ, 498 Hoàng Sa, 536 Lý Sơn, 755 Côn Đảo), each of which became a
  special zone (đặc khu); they are served as district conversions;
* notes are spelled several ways (double spaces, "Nhâp"): each maps to one kind.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

TABLE = Path(__file__).resolve().parent / "data" / "vn-2025-conversion-table.csv"

# (old name, code in the table, its real code)
CODE_TYPOS = (("Xã Mỹ Hưng", 1615, 1651), ("Xã Phú Thịnh", 2485, 2482))
# old ward code → its real old province
PROVINCE_TAGS = {27691: 80, 30781: 91}
ISLAND_DISTRICTS = {
    318: "Bạch Long Vĩ",
    471: "Cồn Cỏ",
    498: "Hoàng Sa",
    536: "Lý Sơn",
    755: "Côn Đảo",
}

WHOLE, PART, UNCHANGED = "whole", "part", "unchanged"

_CODE = re.compile(r"\((\d+)\)\s*$")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Row:
    """One row of the table, as written there (codes as integers, text trimmed)."""

    new_province: int
    new_ward: int
    new_name: str
    old_ward: int | None  # None: a district-level row (an island district, a coastal area)
    old_name: str
    note: str
    old_district: int
    old_district_name: str
    old_province: int


def _code(cell: str) -> int:
    match = _CODE.search(cell)
    if match is None:
        raise ValueError(f"no (code) in {cell!r}")
    return int(match[1])


def _text(cell: str) -> str:
    return _SPACES.sub(" ", cell).strip()


def read_table(path: Path = TABLE) -> list[Row]:
    """The table's data rows: two header lines and the province banner lines skipped."""
    with path.open(encoding="utf-8", newline="") as handle:
        lines = list(csv.reader(handle))
    rows = []
    for cells in lines[2:]:
        if not any(cell.strip() for cell in cells[1:]):
            continue  # a banner: only the province's name
        old_code = cells[4].strip()
        rows.append(
            Row(
                new_province=_code(cells[0]),
                new_ward=int(cells[2]),
                new_name=_text(cells[1]),
                old_ward=int(old_code) if old_code else None,
                old_name=_text(cells[3]),
                note=_text(cells[5]),
                old_district=_code(cells[6]),
                old_district_name=_text(cells[6].rpartition("(")[0]),
                old_province=_code(cells[7]),
            )
        )
    return rows


def correct(rows: Iterable[Row]) -> list[Row]:
    """The rows with the typo'd codes and the wrong province tags fixed."""
    fixed = []
    for row in rows:
        corrected = row
        for name, wrong, right in CODE_TYPOS:
            if row.old_ward == wrong and row.old_name == name:
                corrected = replace(corrected, old_ward=right)
        if corrected.old_ward in PROVINCE_TAGS:
            corrected = replace(corrected, old_province=PROVINCE_TAGS[corrected.old_ward])
        fixed.append(corrected)
    return fixed


def kind_of(note: str) -> tuple[str, bool]:
    """How the old unit went into the new one, from the row's note: (kind, whole population).

    whole: the whole old unit (renamed, retyped or re-formed as a special zone included);
    part: part of it (of its area, or of its population); unchanged: nothing changed. The
    flag marks "part of the area, but the whole population": the natural default successor.
    """
    text = note.lower().replace("nhâp", "nhập")
    if text == "giữ nguyên":
        return UNCHANGED, False
    if "toàn bộ dân số" in text:
        return PART, True
    if "một phần" in text or "phần còn lại" in text:
        return PART, False
    if "toàn bộ" in text or text in ("đổi tên", "đổi loại hình"):
        return WHOLE, False
    raise ValueError(f"unknown note {note!r}")


WardConversion = tuple[int, int, str, bool, str]  # old, new, kind, whole_population, note


def ward_conversions(rows: Iterable[Row]) -> list[WardConversion]:
    """(old ward, new ward, kind, whole population, note), one per pair, sorted."""
    pairs: dict[tuple[int, int], WardConversion] = {}
    for row in rows:
        if row.old_ward is None:
            continue
        kind, whole_population = kind_of(row.note)
        pairs.setdefault(
            (row.old_ward, row.new_ward),
            (row.old_ward, row.new_ward, kind, whole_population, row.note),
        )
    return [pairs[key] for key in sorted(pairs)]


DistrictConversion = tuple[int, int, str, str]  # old district, new ward, kind, note


def district_conversions(rows: Iterable[Row]) -> list[DistrictConversion]:
    """The table's district-level rows (no old ward): the island districts that became
    special zones, and a coastal area a district managed. A district's other successors
    are those of its wards."""
    found: dict[tuple[int, int], DistrictConversion] = {}
    for row in rows:
        if row.old_ward is None:
            key = (row.old_district, row.new_ward)
            # A whole district re-formed as a special zone, or an area it managed.
            kind = WHOLE if "toàn bộ huyện" in row.note else PART
            found.setdefault(key, (*key, kind, row.note))
    return [found[key] for key in sorted(found)]


def province_conversions(rows: Iterable[Row]) -> list[tuple[int, int]]:
    """(old province, new province) pairs, sorted."""
    return sorted({(row.old_province, row.new_province) for row in rows})


def created_wards(rows: Iterable[Row], listed: set[int]) -> list[Row]:
    """One row for each old ward of the table that the January 2025 list lacks: created
    between January and June 2025."""
    seen: dict[int, Row] = {}
    for row in rows:
        if row.old_ward is not None and row.old_ward not in listed:
            seen.setdefault(row.old_ward, row)
    return [seen[code] for code in sorted(seen)]
