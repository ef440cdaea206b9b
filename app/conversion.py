"""Old Vietnamese units → today's, answered from the snapshot with no SQL.

An old ward, district or province converts to a `Conversion` (app/schemas.py): its status,
the old unit, today's province and ward(s), each with how the old unit went into it. The
answers come from the official conversion table (the vn_*_conversion datasets), joined with
the old and new units of the same snapshot. Each old unit's answer is built and encoded the
first time it is asked for, then kept with the snapshot (`Snapshot.memo`): a repeated lookup
is two dict reads, and a batch joins bytes that are already encoded.

Names are matched as app/vn_names.py reduces them; the name index is built on the first
request that gives names.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.datasets import (
    VN_DISTRICT_CONVERSIONS,
    VN_LEGACY_DISTRICTS,
    VN_LEGACY_PROVINCES,
    VN_LEGACY_WARDS,
    VN_PROVINCE_CONVERSIONS,
    VN_PROVINCES,
    VN_WARD_CONVERSIONS,
    VN_WARDS,
)
from app.schemas import ByCode, ByNames, InvalidItem
from app.snapshot.snapshot import EMPTY, Collection, Data, Item, Snapshot
from app.vn_names import Level, Name, parse, type_of

Record = Mapping[str, Any]

# What people write for Ho Chi Minh City, beside its name (folded cores).
_PROVINCE_ALIASES = {"hcm": "ho chi minh", "tphcm": "ho chi minh"}


def _answer(
    status: str,
    *,
    detail: str | None = None,
    unmatched: Level | None = None,
    old: Sequence[Record] = (),
    province: Record | None = None,
    wards: Sequence[Record] = (),
) -> dict[str, Any]:
    return {
        "status": status,
        "detail": detail,
        "unmatched": unmatched,
        "old": list(old),
        "province": province,
        "wards": list(wards),
    }


def not_found(level: Level, detail: str) -> Item:
    return Item(_answer("not_found", detail=detail, unmatched=level))


def invalid(item: InvalidItem) -> Item:
    return Item(_answer("invalid", detail=item.detail))


Parse = Callable[[str, Level], Name]


@dataclass(frozen=True, slots=True)
class _Names:
    """Old units of one scope (all provinces; a province's districts; a district's or a
    province's wards) by the core of their name, and by the core with its accents."""

    by_core: Mapping[str, tuple[Record, ...]]
    by_accented: Mapping[str, tuple[Record, ...]]

    @classmethod
    def of(cls, records: Iterable[Record], level: Level) -> _Names:
        by_core: dict[str, list[Record]] = {}
        by_accented: dict[str, list[Record]] = {}
        for record in records:
            name = parse(record["name"], level)
            by_core.setdefault(name.core, []).append(record)
            by_accented.setdefault(name.accented, []).append(record)
        return cls(
            {core: tuple(found) for core, found in by_core.items()},
            {accented: tuple(found) for accented, found in by_accented.items()},
        )

    def match(self, name: Name) -> tuple[Record, ...]:
        """The units `name` names: by its core (or, failing that, by the whole name, for
        a name whose first word reads as a type word); of several, those whose accents match,
        then those of the type written, then those that still existed on 30 June 2025."""
        found = self.by_core.get(name.core, ()) or self.by_core.get(name.whole, ())
        if len(found) > 1:
            accented = set(map(id, self.by_accented.get(name.accented, ())))
            found = tuple(r for r in found if id(r) in accented) or found
        if len(found) > 1 and name.type is not None:
            found = tuple(r for r in found if type_of(r["division_type"]) == name.type) or found
        if len(found) > 1:
            found = tuple(r for r in found if r.get("existed_2025_06_30", True)) or found
        return found


class Conversions:
    """The conversion answers of one snapshot (get one with `conversions(snapshot)`)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.provinces = snapshot[VN_PROVINCES].by_key
        self.wards = snapshot[VN_WARDS].by_key
        self.old_provinces = snapshot[VN_LEGACY_PROVINCES]
        self.old_districts = snapshot[VN_LEGACY_DISTRICTS]
        self.old_wards = snapshot[VN_LEGACY_WARDS]
        ward_rows = snapshot[VN_WARD_CONVERSIONS].groups
        district_rows = snapshot[VN_DISTRICT_CONVERSIONS].groups
        province_rows = snapshot[VN_PROVINCE_CONVERSIONS].groups
        self._successor_rows = ward_rows["old_ward_code"]
        self._predecessor_rows = ward_rows["new_ward_code"]
        self._district_successor_rows = district_rows["old_district_code"]
        self._district_predecessor_rows = district_rows["new_ward_code"]
        self._new_province_of = {
            code: rows.items[0].record["new_province_code"]
            for code, rows in province_rows["old_province_code"].items()
        }
        self._merged_from = {
            code: len(rows.items) for code, rows in province_rows["new_province_code"].items()
        }
        self._answers: dict[tuple[Level, int], Item] = {}
        self._predecessors: dict[int, Item] = {}
        self._names: dict[tuple[Level, int], _Names] = {}  # by level and id() of the units

    # Units as answers name them.

    def _old_unit(self, level: Level, record: Record) -> dict[str, Any]:
        province = self.old_provinces.by_key[record.get("province_code", record["code"])].record
        district = None
        if level is Level.WARD:
            district = self.old_districts.by_key[record["district_code"]].record
        return {
            "level": level,
            "code": record["code"],
            "name": record["name"],
            "division_type": record["division_type"],
            "district_code": None if district is None else district["code"],
            "district_name": None if district is None else district["name"],
            "province_code": province["code"],
            "province_name": province["name"],
            "existed_2025_06_30": record.get("existed_2025_06_30", True),
        }

    def _new_province(self, old_province_code: int) -> dict[str, Any] | None:
        code = self._new_province_of.get(old_province_code)
        if code is None:
            return None
        record = self.provinces[code].record
        kind = "unchanged" if self._merged_from[code] == 1 else "whole"
        return {"code": code, "name": record["name"], "kind": kind}

    def _new_ward(self, code: int, kind: str, default: bool, old_code: int) -> dict[str, Any]:
        record = self.wards[code].record
        return {
            "code": code,
            "name": record["name"],
            "division_type": record["division_type"],
            "province_code": record["province_code"],
            "kind": kind,
            "default": default,
            "old_code": old_code,
        }

    # One old unit.

    def _memo(
        self, level: Level, code: int, units: Data, answer: Callable[[Record], dict[str, Any]]
    ) -> Item | None:
        """The answer for old unit `code` of `units`, made once; None if there is none."""
        found = self._answers.get((level, code))
        if found is None:
            old = units.by_key.get(code)
            if old is None:
                return None
            found = self._answers[(level, code)] = Item(answer(old.record))
        return found

    def ward(self, code: int) -> Item | None:
        """What old ward `code` is now; None if there was no such ward."""
        return self._memo(Level.WARD, code, self.old_wards, self._ward_answer)

    def _ward_answer(self, old: Record) -> dict[str, Any]:
        unit = self._old_unit(Level.WARD, old)
        rows = [item.record for item in self._successor_rows.get(old["code"], EMPTY).items]
        if not rows:
            return _answer(
                "not_found",
                detail=f"{old['name']} was abolished before 30 June 2025; the official "
                "conversion table gives it no successor.",
                old=[unit],
            )
        wards = [
            self._new_ward(row["new_ward_code"], row["kind"], row["whole_population"], old["code"])
            for row in rows
        ]
        if len(wards) == 1:
            status, detail = "resolved", None
        else:
            status = "ambiguous"
            detail = f"{old['name']} was split between {len(wards)} new wards; the street decides."
            default = [ward["name"] for ward in wards if ward["default"]]
            if default:
                detail += f" The official table gives its whole population to {default[0]}."
        return _answer(
            status,
            detail=detail,
            old=[unit],
            province=self._new_province(old["province_code"]),
            wards=wards,
        )

    def district(self, code: int) -> Item | None:
        """What old district `code` is now: the new wards its area went into."""
        return self._memo(Level.DISTRICT, code, self.old_districts, self._district_answer)

    def _district_answer(self, old: Record) -> dict[str, Any]:
        code = old["code"]
        district_rows = self._district_successor_rows.get(code, EMPTY).items
        new_codes = {row.record["new_ward_code"] for row in district_rows}
        for ward in self.old_wards.groups["district_code"].get(code, EMPTY).items:
            for row in self._successor_rows.get(ward.record["code"], EMPTY).items:
                new_codes.add(row.record["new_ward_code"])
        kind = "whole" if len(new_codes) == 1 else "part"
        wards = [self._new_ward(new, kind, False, code) for new in sorted(new_codes)]
        status, detail = "resolved", None
        if len(wards) > 1:
            status = "ambiguous"
            detail = (
                f"{old['name']} had its area go into {len(wards)} new wards (the district level "
                "was abolished); give the old ward to tell which."
            )
        return _answer(
            status,
            detail=detail,
            old=[self._old_unit(Level.DISTRICT, old)],
            province=self._new_province(old["province_code"]),
            wards=wards,
        )

    def province(self, code: int) -> Item | None:
        """What old province `code` is now: the new province it went into, whole."""
        return self._memo(Level.PROVINCE, code, self.old_provinces, self._province_answer)

    def _province_answer(self, old: Record) -> dict[str, Any]:
        return _answer(
            "resolved",
            old=[self._old_unit(Level.PROVINCE, old)],
            province=self._new_province(old["code"]),
        )

    def predecessors(self, code: int) -> Item | None:
        """The old units new ward `code` was formed from; None if there is no such ward."""
        answer = self._predecessors.get(code)
        if answer is None:
            new = self.wards.get(code)
            if new is None:
                return None
            old_wards = self.old_wards.by_key
            found = [
                {
                    **self._old_unit(Level.WARD, old_wards[row["old_ward_code"]].record),
                    "kind": row["kind"],
                    "whole_population": row["whole_population"],
                }
                for row in (item.record for item in self._predecessor_rows.get(code, EMPTY).items)
            ]
            found += [
                {
                    **self._old_unit(
                        Level.DISTRICT, self.old_districts.by_key[row["old_district_code"]].record
                    ),
                    "kind": row["kind"],
                    "whole_population": False,
                }
                for row in (
                    item.record for item in self._district_predecessor_rows.get(code, EMPTY).items
                )
            ]
            answer = self._predecessors[code] = Item({"ward": new.record, "predecessors": found})
        return answer

    # An item of a batch.

    def by_code(self, given: ByCode) -> Item:
        # ByCode holds exactly one code.
        for level, code, lookup in (
            (Level.WARD, given.ward_code, Conversions.ward),
            (Level.DISTRICT, given.district_code, Conversions.district),
            (Level.PROVINCE, given.province_code, Conversions.province),
        ):
            if code is not None:
                return lookup(self, code) or not_found(level, f"No old {level} with code {code}.")
        return invalid(InvalidItem(detail="No code given."))

    def _names_in(self, level: Level, units: Collection) -> _Names:
        """The name index of `units` (all old provinces; a province's districts; a
        district's or a province's wards), made on first use."""
        index = self._names.get((level, id(units)))  # units live as long as the snapshot
        if index is None:
            records = (item.record for item in units.items)
            index = self._names[(level, id(units))] = _Names.of(records, level)
        return index

    def by_names(self, given: ByNames, parsed: Parse = parse) -> Item:
        """What old address `given` by its names is now. (`parsed`: a batch's memo of the
        names it has read.)"""
        province_name = parsed(given.province, Level.PROVINCE)
        every_province = self._names_in(Level.PROVINCE, self.old_provinces.all)
        provinces = every_province.match(province_name)
        if not provinces and province_name.core in _PROVINCE_ALIASES:
            provinces = every_province.by_core.get(_PROVINCE_ALIASES[province_name.core], ())
        if not provinces:
            return not_found(Level.PROVINCE, f"No old province is named {given.province!r}.")
        (province,) = provinces  # old province names are unique
        districts: tuple[Record, ...] = ()
        if given.district is not None:
            of_province = self.old_districts.groups["province_code"].get(province["code"], EMPTY)
            districts = self._names_in(Level.DISTRICT, of_province).match(
                parsed(given.district, Level.DISTRICT)
            )
            if not districts:
                return not_found(
                    Level.DISTRICT,
                    f"No old district of {province['name']} is named {given.district!r}.",
                )
        if given.ward is None:
            if not districts:
                return self._one_of([self.province(province["code"])])
            return self._one_of([self.district(d["code"]) for d in districts])
        ward_name = parsed(given.ward, Level.WARD)
        ward_groups = self.old_wards.groups
        scopes = [ward_groups["district_code"].get(d["code"], EMPTY) for d in districts] or [
            ward_groups["province_code"].get(province["code"], EMPTY)
        ]
        wards = [w for scope in scopes for w in self._names_in(Level.WARD, scope).match(ward_name)]
        if not wards:
            where = " or ".join(d["name"] for d in districts) or province["name"]
            return not_found(Level.WARD, f"No old ward of {where} is named {given.ward!r}.")
        return self._one_of([self.ward(w["code"]) for w in wards])

    def _one_of(self, answers: Sequence[Item | None]) -> Item:
        """One answer for names that match several old units: their candidates together."""
        found = [answer.record for answer in answers if answer is not None]
        if len(found) == 1:
            return next(answer for answer in answers if answer is not None)
        wards = [ward for answer in found for ward in answer["wards"]]
        old = [unit for answer in found for unit in answer["old"]]
        if len({ward["code"] for ward in wards}) == 1:
            return Item(_answer("resolved", old=old, province=found[0]["province"], wards=wards))
        return Item(
            _answer(
                "ambiguous",
                detail=f"The names match {len(old)} old units (listed in `old`); the "
                "district, the name's accents or the code tells them apart.",
                old=old,
                province=found[0]["province"],
                wards=wards,
            )
        )

    def convert(self, items: Iterable[ByCode | ByNames | InvalidItem]) -> bytes:
        """The batch's answers, in its order, as the body of the response."""
        # Batches repeat their province and district names: each is parsed once per batch.
        # Kept no longer: a memo across batches would keep whatever names clients send.
        parsed = functools.cache(parse)
        answers = []
        for given in items:
            if isinstance(given, ByCode):
                answers.append(self.by_code(given).body)
            elif isinstance(given, ByNames):
                answers.append(self.by_names(given, parsed).body)
            else:
                answers.append(invalid(given).body)
        return b'{"items":[' + b",".join(answers) + b"]}"


def conversions(snapshot: Snapshot) -> Conversions:
    """The snapshot's conversion answers: made on first use, kept as long as the snapshot.
    (Two threads at once may each make one; either is right, and one is kept.)"""
    found: Conversions | None = snapshot.memo.get("conversions")
    if found is None:
        found = snapshot.memo["conversions"] = Conversions(snapshot)
    return found
