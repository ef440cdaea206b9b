"""Generate the reference-data CSV seed files in ``alembic/data/``.

Sources:

* ``pycountry`` -- ISO 3166-1 countries, ISO 4217 currencies, ISO 3166-2 subdivisions.
* ``vietnam-provinces`` -- Vietnam's provinces and wards after the July 2025 administrative
  reform (34 provinces, wards/communes directly under provinces; no districts), and the units
  before it (``vietnam_provinces.legacy``: 63 provinces, 696 districts, 10,051 wards, a
  January 2025 list).
* ``scripts/data/vn-2025-conversion-table.csv`` -- the official old→new conversion table, read
  and corrected by ``scripts/vn_conversion.py`` (its docstring lists the fixes).

Files written (UTF-8, ``\\n`` line endings, header row, minimal quoting, an empty cell means NULL,
rows sorted by primary key so that re-running gives byte-identical CSVs):

* ``country.csv``      alpha_2,alpha_3,numeric,name,official_name
* ``currency.csv``     code,numeric,name
* ``subdivision.csv``  code,country_code,name,type,parent_code
* ``vn_province.csv``  code,name,division_type,codename,phone_code
* ``vn_ward.csv``      code,name,division_type,codename,province_code
* ``vn_legacy_province.csv``  code,name,division_type,codename,phone_code
* ``vn_legacy_district.csv``  code,name,division_type,codename,province_code
* ``vn_legacy_ward.csv``      code,name,division_type,codename,district_code,province_code,
  listed_2025_01,existed_2025_06_30
* ``vn_ward_conversion.csv``  old_ward_code,new_ward_code,kind,whole_population,note
* ``vn_district_conversion.csv``  old_district_code,new_ward_code,kind,note
* ``vn_province_conversion.csv``  old_province_code,new_province_code
* ``SOURCES.md``       package versions, generation date and row counts

Run from the repository root, with ``pycountry==26.2.16`` and ``vietnam-provinces==2026.9.0``
installed (the latter needs Python >= 3.12)::

    python -m scripts.generate_data [--output-dir alembic/data]

The date in ``SOURCES.md`` is today's UTC date, or the date of ``SOURCE_DATE_EPOCH`` if set.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from importlib.metadata import version
from pathlib import Path
from typing import cast

import pycountry
import pycountry.db
import vietnam_provinces
from vietnam_provinces import Province, Ward, legacy

from scripts import vn_conversion

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT_DIR = REPO_ROOT / "alembic" / "data"

Row = tuple[str | int, ...]

COUNTRY_COLUMNS = ("alpha_2", "alpha_3", "numeric", "name", "official_name")
CURRENCY_COLUMNS = ("code", "numeric", "name")
SUBDIVISION_COLUMNS = ("code", "country_code", "name", "type", "parent_code")
VN_PROVINCE_COLUMNS = ("code", "name", "division_type", "codename", "phone_code")
VN_WARD_COLUMNS = ("code", "name", "division_type", "codename", "province_code")
LEGACY_PROVINCE_COLUMNS = VN_PROVINCE_COLUMNS
LEGACY_DISTRICT_COLUMNS = ("code", "name", "division_type", "codename", "province_code")
LEGACY_WARD_COLUMNS = (
    "code", "name", "division_type", "codename", "district_code", "province_code",
    "listed_2025_01", "existed_2025_06_30",
)  # fmt: skip
WARD_CONVERSION_COLUMNS = ("old_ward_code", "new_ward_code", "kind", "whole_population", "note")
DISTRICT_CONVERSION_COLUMNS = ("old_district_code", "new_ward_code", "kind", "note")
PROVINCE_CONVERSION_COLUMNS = ("old_province_code", "new_province_code")

PACKAGES = ("pycountry", "vietnam-provinces")


def _optional_field(obj: object, key: str) -> str:
    """Return a possibly-missing string attribute, or ``""`` (NULL) when absent or None."""
    value = getattr(obj, key, None)
    return value if isinstance(value, str) else ""


def country_rows() -> list[Row]:
    """ISO 3166-1 countries, sorted by alpha_2."""
    rows: list[Row] = [
        (c.alpha_2, c.alpha_3, c.numeric, c.name, _optional_field(c, "official_name"))
        for c in pycountry.countries
    ]
    return sorted(rows, key=lambda r: str(r[0]))


def currency_rows() -> list[Row]:
    """ISO 4217 currencies, sorted by code (pycountry's ``alpha_3``)."""
    currencies = cast(Iterable[pycountry.db.Data], pycountry.currencies)
    rows: list[Row] = [(c.alpha_3, _optional_field(c, "numeric"), c.name) for c in currencies]
    return sorted(rows, key=lambda r: str(r[0]))


def _full_parent_code(code: str, parent: str) -> str:
    """Normalise a parent subdivision code to its full form (``GB-ENG``, not ``ENG``)."""
    if not parent:
        return ""
    country_code = code.split("-", 1)[0]
    if parent.split("-", 1)[0] == country_code:
        return parent
    return f"{country_code}-{parent}"


def subdivision_rows() -> list[Row]:
    """ISO 3166-2 subdivisions, sorted by code, with full parent codes (verified to exist)."""
    subdivisions = cast(Iterable[pycountry.db.Data], pycountry.subdivisions)
    rows: list[Row] = []
    for s in subdivisions:
        code: str = s.code
        parent = _optional_field(s, "parent_code") or _optional_field(s, "parent")
        rows.append((code, code.split("-", 1)[0], s.name, s.type, _full_parent_code(code, parent)))
    rows.sort(key=lambda r: str(r[0]))

    codes = {r[0] for r in rows}
    missing = sorted(str(r[4]) for r in rows if r[4] and r[4] not in codes)
    if missing:
        raise ValueError(f"subdivision parent codes not found as codes: {missing}")
    country_codes = {c.alpha_2 for c in pycountry.countries}
    unknown = sorted({str(r[1]) for r in rows} - country_codes)
    if unknown:
        raise ValueError(f"subdivision country codes not found in countries: {unknown}")
    return rows


def vn_province_rows() -> list[Row]:
    """Post-2025 Vietnamese provinces (34), sorted numerically by code."""
    rows: list[Row] = [
        (int(p.code), p.name, p.division_type.value, p.codename, p.phone_code)
        for p in Province.iter_all()
    ]
    return sorted(rows, key=lambda r: int(r[0]))


def vn_ward_rows(province_codes: set[int]) -> list[Row]:
    """Post-2025 Vietnamese wards/communes, sorted numerically by code."""
    rows: list[Row] = [
        (int(w.code), w.name, w.division_type.value, w.codename, int(w.province_code))
        for w in Ward.iter_all()
    ]
    rows.sort(key=lambda r: int(r[0]))
    unknown = sorted({int(r[4]) for r in rows} - province_codes)
    if unknown:
        raise ValueError(f"ward province codes not found in provinces: {unknown}")
    return rows


def _codename(name: str) -> str:
    """The legacy list's codename form: `Phường Trúc Bạch` → `phuong_truc_bach`."""
    decomposed = unicodedata.normalize("NFKD", name.replace("đ", "d").replace("Đ", "D"))
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", "_", ascii_only.lower()).strip("_")


def _ward_type(name: str) -> str:
    for prefix, kind in (("Phường ", "phường"), ("Thị trấn ", "thị trấn"), ("Xã ", "xã")):
        if name.startswith(prefix):
            return kind
    raise ValueError(f"no division type in the ward name {name!r}")


def _first(row: Row) -> int:
    return int(row[0])


def legacy_rows(
    table: list[vn_conversion.Row], new_wards: set[int]
) -> dict[str, tuple[Sequence[str], list[Row]]]:
    """Vietnam's units before 1 July 2025 and how each went into the new ones."""
    provinces: list[Row] = [
        (int(p.code), p.name, p.division_type.value, p.codename, p.phone_code)
        for p in legacy.Province.iter_all()
    ]
    districts: list[Row] = [
        (int(d.code), d.name, d.division_type.value, d.codename, int(d.province_code))
        for d in legacy.District.iter_all()
    ]
    province_of = {int(r[0]): int(r[4]) for r in districts}
    on_30_june = {row.old_ward for row in table if row.old_ward is not None}
    wards: list[Row] = []
    for w in legacy.Ward.iter_all():
        district = int(w.district_code)
        wards.append(
            (int(w.code), w.name, w.division_type.value, w.codename, district,
             province_of[district], "true", "true" if int(w.code) in on_30_june else "false")
        )  # fmt: skip
    listed = {int(r[0]) for r in wards}
    for row in vn_conversion.created_wards(table, listed):
        wards.append(
            (row.old_ward or 0, row.old_name, _ward_type(row.old_name), _codename(row.old_name),
             row.old_district, row.old_province, "false", "true")
        )  # fmt: skip
    wards.sort(key=lambda r: int(r[0]))

    ward_conversions = vn_conversion.ward_conversions(table)
    district_conversions = vn_conversion.district_conversions(table)
    province_conversions = vn_conversion.province_conversions(table)
    codes = {int(r[0]) for r in wards}
    problems = [f"old ward {old} is in no list" for old, *_ in ward_conversions if old not in codes]
    problems += [
        f"new ward {new} does not exist"
        for _, new, *_ in [*ward_conversions, *district_conversions]
        if new not in new_wards
    ]
    problems += [
        f"district {r[4]} of ward {r[0]} unknown" for r in wards if r[4] not in province_of
    ]
    # The reform merged whole provinces: each old one went into exactly one new one.
    # (vietnam-provinces maps 82 to two, from the table's wrong tag on ward 27691.)
    successors = Counter(old for old, _ in province_conversions)
    problems += [
        f"old province {old} has {n} successors" for old, n in successors.items() if n != 1
    ]
    if sorted(successors) != sorted(int(r[0]) for r in provinces):
        problems.append("not every old province has a successor")
    if problems:
        raise ValueError("; ".join(problems[:10]))
    return {
        "vn_legacy_province.csv": (LEGACY_PROVINCE_COLUMNS, sorted(provinces, key=_first)),
        "vn_legacy_district.csv": (LEGACY_DISTRICT_COLUMNS, sorted(districts, key=_first)),
        "vn_legacy_ward.csv": (LEGACY_WARD_COLUMNS, wards),
        "vn_ward_conversion.csv": (
            WARD_CONVERSION_COLUMNS,
            [(o, n, k, "true" if p else "false", note) for o, n, k, p, note in ward_conversions],
        ),
        "vn_district_conversion.csv": (DISTRICT_CONVERSION_COLUMNS, list(district_conversions)),
        "vn_province_conversion.csv": (PROVINCE_CONVERSION_COLUMNS, list(province_conversions)),
    }  # fmt: skip


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[Row]) -> None:
    """Write a header row plus ``rows`` as UTF-8 CSV with ``\\n`` line endings."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)


def generation_date() -> date:
    """Today's UTC date, or the date of ``SOURCE_DATE_EPOCH`` for reproducible builds."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return datetime.fromtimestamp(int(epoch), tz=UTC).date()
    return datetime.now(tz=UTC).date()


def write_sources(path: Path, counts: dict[str, int]) -> None:
    """Write ``SOURCES.md``: package versions, generation date and row counts."""
    lines = [
        "# Reference data sources",
        "",
        "Generated by `scripts/generate_data.py` -- do not edit by hand; re-run the script.",
        "",
        f"Generated on: {generation_date().isoformat()} (UTC)",
        "",
        "## Packages",
        "",
    ]
    lines += [f"- `{name}` {version(name)}" for name in PACKAGES]
    lines += [
        f"  (vietnam-provinces data version: {vietnam_provinces.__data_version__};"
        " post-July-2025 reform dataset, and `vietnam_provinces.legacy`, the units of January"
        " 2025)",
        "",
        "## The conversion table",
        "",
        "`vn_ward_conversion.csv`, `vn_district_conversion.csv` and `vn_province_conversion.csv`"
        " come from `scripts/data/vn-2025-conversion-table.csv`, the official conversion table"
        ' "Bảng chuyển đổi ĐVHC mới-cũ" of the Government of Viet Nam (an official document, not'
        " subject to copyright under Article 15 of Viet Nam's Law on Intellectual Property;"
        " see `scripts/data/README.md`). Fixes applied by `scripts/vn_conversion.py`:",
        "",
        "- old code typos: Xã Mỹ Hưng 01615 → 01651, Xã Phú Thịnh 02485 → 02482;",
        "- old-province tags: ward 27691 (Phường 4, Tân An) 82 → 80,"
        " ward 30781 (Tiên Hải) 89 → 91;",
        "- the five island districts with no wards (318, 471, 498, 536, 755) → their special"
        " zones, as district conversions;",
        "- wards created between January and June 2025 (in the table, not in the January list)"
        " are served with `listed_2025_01 = false`; wards abolished in that time (in the list,"
        " not in the table) with `existed_2025_06_30 = false`;",
        "- the notes' spellings are mapped to three kinds: whole, part, unchanged (plus"
        ' `whole_population` for "part of the area, but the whole population").',
        "",
        "## Written by hand",
        "",
        "`setting.csv`: the default business settings (thresholds in VND), this project's own"
        " (MIT); this script does not write it.",
        "",
        "## Row counts",
        "",
        "| file | rows |",
        "| --- | ---: |",
    ]
    lines += [f"| `{name}` | {count} |" for name, count in counts.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Generate all files; return the process exit code."""
    parser = argparse.ArgumentParser(description="Generate reference-data CSV seed files.")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT_DIR,
        help=f"directory to write into (default: {DEFAULT_OUTPUT_DIR})",
    )
    args = parser.parse_args(argv)
    output_dir = cast(Path, args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    try:
        provinces = vn_province_rows()
        tables: list[tuple[str, Sequence[str], list[Row]]] = [
            ("country.csv", COUNTRY_COLUMNS, country_rows()),
            ("currency.csv", CURRENCY_COLUMNS, currency_rows()),
            ("subdivision.csv", SUBDIVISION_COLUMNS, subdivision_rows()),
            ("vn_province.csv", VN_PROVINCE_COLUMNS, provinces),
            ("vn_ward.csv", VN_WARD_COLUMNS, wards := vn_ward_rows({int(r[0]) for r in provinces})),
        ]
        table = vn_conversion.correct(vn_conversion.read_table())
        for filename, (columns, rows) in legacy_rows(table, {int(r[0]) for r in wards}).items():
            tables.append((filename, columns, rows))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    counts: dict[str, int] = {}
    for filename, columns, rows in tables:
        write_csv(output_dir / filename, columns, rows)
        counts[filename] = len(rows)
        print(f"{filename}: {len(rows)} rows")
    write_sources(output_dir / "SOURCES.md", counts)
    print(f"SOURCES.md written to {output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
