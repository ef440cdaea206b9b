"""The batches `POST /vn/convert` is timed with: as many old wards as a batch holds (500),
by codes and by names.

Read from the seeded CSVs (alembic/data), every 10th old ward that still existed on 30 June
2025, so the batch spans the country. By names, each address is written as people write
them, in turn: the official names; abbreviated (`TP.`, `Q.`, `P.`) with the district; and
without accents or type words. About a third of them are split wards (`ambiguous`).
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "alembic" / "data"
SIZE = 500  # app.schemas.MAX_CONVERT_ITEMS (tests/test_bench.py checks they agree)

_SHORT = {
    "thành phố": "TP.",
    "tỉnh": "T.",
    "quận": "Q.",
    "huyện": "H.",
    "thị xã": "TX.",
    "phường": "P.",
    "xã": "X.",
    "thị trấn": "TT.",
}


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / f"{name}.csv").open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def _abbreviated(name: str) -> str:
    for word, short in sorted(_SHORT.items(), key=lambda pair: -len(pair[0])):
        if name.lower().startswith(word + " "):
            return f"{short} {name[len(word) + 1 :]}"
    return name


def _plain(fold: Callable[[str], str], name: str, division_type: str) -> str:
    """No accents, no type word: `phuong ben nghe` → `ben nghe`."""
    folded, kind = fold(name), fold(division_type)
    return folded.removeprefix(kind + " ") if not kind.startswith("thanh pho tr") else folded


def wards() -> list[dict[str, str]]:
    existing = [row for row in _rows("vn_legacy_ward") if row["existed_2025_06_30"] == "true"]
    return existing[::10][:SIZE]


@functools.cache
def batches() -> tuple[bytes, bytes]:
    """(by codes, by names): JSON bodies of POST /vn/convert. Made when first asked for, in
    design (c)'s process only."""
    from app.kit.text import fold  # noqa: PLC0415

    return _by_codes_and_names(fold)


def _by_codes_and_names(fold: Callable[[str], str]) -> tuple[bytes, bytes]:
    chosen = wards()
    districts = {row["code"]: row for row in _rows("vn_legacy_district")}
    provinces = {row["code"]: row for row in _rows("vn_legacy_province")}
    by_codes = [{"ward_code": int(row["code"])} for row in chosen]
    by_names: list[dict[str, Any]] = []
    for i, ward in enumerate(chosen):
        district = districts[ward["district_code"]]
        province = provinces[ward["province_code"]]
        units = (province, district, ward)
        if i % 3 == 0:
            names = [unit["name"] for unit in units]
        elif i % 3 == 1:
            names = [_abbreviated(unit["name"]) for unit in units]
        else:
            names = [_plain(fold, unit["name"], unit["division_type"]) for unit in units]
        by_names.append(dict(zip(("province", "district", "ward"), names, strict=True)))
    return (
        json.dumps({"items": by_codes}).encode(),
        json.dumps({"items": by_names}, ensure_ascii=False).encode(),
    )
