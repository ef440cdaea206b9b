"""Old addresses → today's units, as a user of the API sees them: successors, predecessors
and POST /vn/convert, answered from the snapshot with no SQL, on the real Mangum handler.

The expected answers come from the official table itself (scripts/vn_conversion.py reads
and corrects it), not from the seeded CSVs the service loaded.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

import pytest

from app.conversion import conversions
from app.datasets import VN_LEGACY_WARDS, VN_WARDS
from app.init import cache
from app.schemas import MAX_CONVERT_ITEMS, Conversion, Predecessors
from harness.events import http_v2
from harness.http import Reply, get, invoke
from harness.sql import ServerStatements, SqlWindow
from scripts import vn_conversion
from scripts.vn_conversion import Row

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def table() -> list[Row]:
    return vn_conversion.correct(vn_conversion.read_table())


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    invoke(http_v2("GET", "/health"))


def answer(path: str) -> dict[str, Any]:
    reply = get(path)
    assert reply.status == 200, (path, reply.body[:300])
    body: dict[str, Any] = reply.json()
    return body


def convert(*items: Any, raw: bytes | None = None) -> Reply:
    body = raw if raw is not None else json.dumps({"items": list(items)}).encode()
    return invoke(http_v2("POST", "/vn/convert", {"content-type": "application/json"}, body))


def converted(*items: Any) -> list[dict[str, Any]]:
    reply = convert(*items)
    assert reply.status == 200, reply.body[:500]
    found: list[dict[str, Any]] = reply.json()["items"]
    assert len(found) == len(items)
    for item in found:
        Conversion.model_validate(item)  # every answer has the documented shape
    return found


def codes(found: dict[str, Any]) -> list[int]:
    return [ward["code"] for ward in found["wards"]]


# The data: every old ward of the table, through the service's answers.


def test_every_old_ward_in_the_table_converts_to_the_new_wards_it_gives(table: list[Row]) -> None:
    expected: dict[int, set[int]] = defaultdict(set)
    for row in table:
        if row.old_ward is not None:
            expected[row.old_ward].add(row.new_ward)
    answers = conversions(cache.snapshot())
    statuses: Counter[str] = Counter()
    for old, new in expected.items():
        found = answers.ward(old)
        assert found is not None, old
        assert {ward["code"] for ward in found.record["wards"]} == new, old
        assert found.record["status"] == ("resolved" if len(new) == 1 else "ambiguous"), old
        # Every candidate is in the old ward's new province.
        provinces = {ward["province_code"] for ward in found.record["wards"]}
        assert provinces == {found.record["province"]["code"]}, old
        statuses[found.record["status"]] += 1
    assert statuses == {"resolved": 9_596, "ambiguous": 439}


def test_every_new_ward_has_predecessors_and_they_agree_with_the_successors() -> None:
    snapshot = cache.snapshot()
    answers = conversions(snapshot)
    new_wards = snapshot[VN_WARDS].by_key
    assert len(new_wards) == 3_321
    for code in new_wards:
        found = answers.predecessors(code)
        assert found is not None
        assert found.record["predecessors"], code
        for old in found.record["predecessors"]:
            if old["level"] == "ward":
                successors = answers.ward(old["code"])
                assert successors is not None
                assert code in {ward["code"] for ward in successors.record["wards"]}


def test_the_old_units_are_all_served_with_their_counts() -> None:
    health = answer("/health")["row_counts"]
    assert health["vn_legacy_province"] == 63
    assert health["vn_legacy_district"] == 696
    assert health["vn_legacy_ward"] == 10_061
    assert health["vn_ward_conversion"] == 10_565
    assert len(get("/vn/legacy/provinces").json()) == 63


def test_a_whole_merge_resolves_to_one_ward() -> None:
    found = answer("/vn/legacy/wards/26740/successors")  # Phường Bến Nghé, Quận 1
    assert found["status"] == "resolved"
    assert found["detail"] is None
    (ward,) = found["wards"]
    assert (ward["code"], ward["name"], ward["kind"]) == (26740, "Phường Sài Gòn", "whole")
    assert found["province"] == {"code": 79, "name": "Thành phố Hồ Chí Minh", "kind": "whole"}
    (old,) = found["old"]
    assert (old["name"], old["district_name"], old["province_name"]) == (
        "Phường Bến Nghé",
        "Quận 1",
        "Thành phố Hồ Chí Minh",
    )


def test_a_split_ward_lists_every_candidate_and_is_ambiguous() -> None:
    found = answer("/vn/legacy/wards/26737/successors")  # Phường Đa Kao
    assert found["status"] == "ambiguous"
    assert codes(found) == [26737, 26740]
    assert [ward["kind"] for ward in found["wards"]] == ["part", "part"]
    assert not any(ward["default"] for ward in found["wards"])  # the table names none
    assert "split between 2 new wards" in found["detail"]


def test_the_successor_that_took_the_whole_population_is_the_default() -> None:
    found = answer("/vn/legacy/wards/112/successors")  # Phường Thụy Khuê, Tây Hồ
    assert found["status"] == "ambiguous"  # still every candidate, never one guess
    assert {ward["code"]: ward["default"] for ward in found["wards"]} == {4: False, 103: True}
    assert "Phường Tây Hồ" in found["detail"]
    defaults = [
        ward
        for old in range(1, 100_000)
        if (item := conversions(cache.snapshot()).ward(old)) is not None
        for ward in item.record["wards"]
        if ward["default"]
    ]
    assert len(defaults) == 58


def test_the_fixed_typo_codes_convert_as_the_legacy_list_names_them(table: list[Row]) -> None:
    # Xã Mỹ Hưng is 01651 and Xã Phú Thịnh 02482; the table's 01615 and 02485 were typos
    # that gave those two a wrong second successor, and the real codes none.
    for typo, real, name in ((1615, 1651, "Xã Mỹ Hưng"), (2485, 2482, "Xã Phú Thịnh")):
        typo_rows = [r for r in table if r.old_ward == typo and r.old_name != name]
        real_rows = [r for r in table if r.old_ward == real]
        assert {r.old_name for r in real_rows} == {name}
        assert len(typo_rows) == len(real_rows) == 1  # one successor each, after the fix
        fixed = answer(f"/vn/legacy/wards/{real}/successors")
        assert fixed["old"][0]["name"] == name
        assert codes(fixed) == [real_rows[0].new_ward]
        assert codes(answer(f"/vn/legacy/wards/{typo}/successors")) == [typo_rows[0].new_ward]


def test_an_old_province_goes_into_one_new_province() -> None:
    # Old province 82 (Tiền Giang) mapped to two before ward 27691's tag was fixed.
    found = answer("/vn/legacy/provinces/82/successors")
    assert found["status"] == "resolved"
    assert (found["province"]["code"], found["province"]["name"]) == (82, "Tỉnh Đồng Tháp")
    assert found["wards"] == []
    assert answer("/vn/legacy/provinces/77/successors")["province"]["name"] == (
        "Thành phố Hồ Chí Minh"
    )
    alone = answer("/vn/legacy/provinces/1/successors")["province"]
    assert (alone["code"], alone["kind"]) == (1, "unchanged")


@pytest.mark.parametrize(
    ("district", "zone"),
    [(318, 11948), (471, 19742), (498, 20333), (536, 21548), (755, 26732)],
)
def test_an_island_district_became_its_special_zone(district: int, zone: int) -> None:
    found = answer(f"/vn/legacy/districts/{district}/successors")
    assert found["status"] == "resolved"
    (ward,) = found["wards"]
    assert (ward["code"], ward["division_type"], ward["kind"]) == (zone, "đặc khu", "whole")
    predecessors = answer(f"/vn/wards/{zone}/predecessors")["predecessors"]
    assert {"level": "district", "code": district} in [
        {"level": p["level"], "code": p["code"]} for p in predecessors
    ]


def test_a_district_lists_the_new_wards_its_area_went_into(table: list[Row]) -> None:
    found = answer("/vn/legacy/districts/760/successors")  # Quận 1
    assert found["status"] == "ambiguous"
    # From the official table itself: every new ward a row of the district went into.
    expected = sorted({row.new_ward for row in table if row.old_district == 760})
    assert codes(found) == expected == [26737, 26740, 26743, 26758]
    assert {ward["kind"] for ward in found["wards"]} == {"part"}


def test_wards_abolished_before_the_reform_say_so() -> None:
    snapshot = cache.snapshot()
    abolished = [
        item.record["code"]
        for item in snapshot[VN_LEGACY_WARDS].all.items
        if not item.record["existed_2025_06_30"]
    ]
    assert len(abolished) == 26
    for code in abolished:
        found = answer(f"/vn/legacy/wards/{code}/successors")
        assert found["status"] == "not_found"
        assert found["wards"] == []
        assert "abolished before 30 June 2025" in found["detail"]


def test_predecessors_name_every_old_ward_with_its_kind() -> None:
    found = answer("/vn/wards/26740/predecessors")  # Phường Sài Gòn
    Predecessors.model_validate(found)
    kinds = {p["code"]: p["kind"] for p in found["predecessors"]}
    assert kinds[26740] == "whole"  # Bến Nghé
    assert kinds[26737] == "part"  # Đa Kao
    assert found["ward"]["name"] == "Phường Sài Gòn"


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/vn/legacy/wards/99999/successors", "No old ward with code 99999."),
        ("/vn/legacy/districts/999/successors", "No old district with code 999."),
        ("/vn/legacy/provinces/99/successors", "No old province with code 99."),
        ("/vn/wards/1/predecessors", "No ward with code 1."),
    ],
)
def test_an_unknown_code_is_a_404_problem(path: str, detail: str) -> None:
    reply = get(path)
    assert reply.status == 404
    assert reply.headers["content-type"] == PROBLEM
    assert reply.json()["detail"] == detail


@pytest.mark.parametrize("code", ["0", "100000", "abc", "1.5"])
def test_a_malformed_code_is_a_422_problem(code: str) -> None:
    reply = get(f"/vn/legacy/wards/{code}/successors")
    assert reply.status == 422
    assert reply.headers["content-type"] == PROBLEM


# The promise: no SQL once warm, and a 304 for a client that has the answer.

PATHS = [
    "/vn/legacy/wards/26737/successors",
    "/vn/legacy/districts/760/successors",
    "/vn/legacy/provinces/77/successors",
    "/vn/wards/26740/predecessors",
]


@pytest.mark.parametrize("path", PATHS)
def test_conversion_lookups_run_no_sql_and_answer_304(
    path: str, sql: SqlWindow, server_statements: ServerStatements | None
) -> None:
    etag = get(path).headers["etag"]
    again = get(path, {"If-None-Match": etag})
    assert again.status == 304
    assert again.body == b""
    assert sql.statements == []
    assert sql.checkouts == 0
    if server_statements is not None:
        assert server_statements.count() == 0


def test_a_batch_runs_no_sql(sql: SqlWindow, server_statements: ServerStatements | None) -> None:
    found = converted(
        {"ward_code": 26740},
        {"province": "Thành phố Hồ Chí Minh", "district": "Quận 1", "ward": "Phường Đa Kao"},
        {"province": "nowhere"},
    )
    assert [item["status"] for item in found] == ["resolved", "ambiguous", "not_found"]
    assert sql.statements == []
    assert sql.checkouts == 0
    if server_statements is not None:
        assert server_statements.count() == 0


# POST /vn/convert


def test_a_batch_answers_in_input_order_and_an_item_by_code_as_its_successors_do() -> None:
    items = [{"ward_code": 26737}, {"district_code": 755}, {"province_code": 77}]
    found = converted(*items, {"ward_code": 26740})
    assert found[0] == answer("/vn/legacy/wards/26737/successors")
    assert found[1] == answer("/vn/legacy/districts/755/successors")
    assert found[2] == answer("/vn/legacy/provinces/77/successors")
    assert codes(found[3]) == [26740]


def test_codes_may_be_written_zero_padded() -> None:
    (found,) = converted({"ward_code": "01651"})
    assert found["old"][0]["name"] == "Xã Mỹ Hưng"


@pytest.mark.parametrize(
    "written",
    [
        {"province": "Thành phố Hồ Chí Minh", "district": "Quận 1", "ward": "Phường Bến Nghé"},
        {"province": "TP. Hồ Chí Minh", "district": "Q.1", "ward": "P. Bến Nghé"},
        {"province": "tp ho chi minh", "district": "quan 01", "ward": "ben nghe"},
        {"province": "TP.HCM", "district": "Q1", "ward": "P.BẾN NGHÉ"},
        {"province": "Hồ Chí Minh", "ward": "Bến Nghé"},  # no district: unique in the city
    ],
)
def test_names_match_however_they_are_written(written: dict[str, str]) -> None:
    (found,) = converted(written)
    assert found["status"] == "resolved", found
    assert [(old["code"]) for old in found["old"]] == [26740]
    assert codes(found) == [26740]


def test_names_resolve_each_level() -> None:
    province, district, island = converted(
        {"province": "T. Bà Rịa - Vũng Tàu"},
        {"province": "Bà Rịa - Vũng Tàu", "district": "TP. Vũng Tàu"},
        {"province": "Bà Rịa - Vũng Tàu", "district": "H. Côn Đảo"},
    )
    assert (province["status"], province["province"]["code"]) == ("resolved", 79)
    assert district["status"] == "ambiguous"
    assert [old["name"] for old in district["old"]] == ["Thành phố Vũng Tàu"]
    assert (island["status"], codes(island)) == ("resolved", [26732])


def test_the_type_word_tells_apart_a_town_and_a_district_of_one_name() -> None:
    town, district = converted(
        {"province": "Hà Tĩnh", "district": "TX. Kỳ Anh"},
        {"province": "Hà Tĩnh", "district": "H. Kỳ Anh"},
    )
    assert [old["name"] for old in town["old"]] == ["Thị xã Kỳ Anh"]
    assert [old["name"] for old in district["old"]] == ["Huyện Kỳ Anh"]
    assert town["status"] == district["status"] == "ambiguous"  # a district: several wards
    assert (len(town["wards"]), len(district["wards"])) == (5, 9)


def test_accents_tell_apart_names_that_differ_only_by_them() -> None:
    accented, plain = converted(
        {"province": "Thanh Hóa", "ward": "Xã Hoằng Phụ"},
        {"province": "Thanh Hoa", "ward": "Hoang Phu"},
    )
    assert [old["name"] for old in accented["old"]] == ["Xã Hoằng Phụ"]
    assert accented["status"] == "resolved"
    # Without accents both match: every candidate, with the old ward each comes from.
    assert plain["status"] == "ambiguous"
    assert {old["name"] for old in plain["old"]} == {"Xã Hoằng Phú", "Xã Hoằng Phụ"}
    assert {ward["old_code"] for ward in plain["wards"]} == {old["code"] for old in plain["old"]}


def test_a_ward_name_repeated_across_districts_needs_its_district() -> None:
    without, with_district = converted(
        {"province": "Hồ Chí Minh", "ward": "Phường 4"},
        {"province": "Hồ Chí Minh", "district": "Quận 3", "ward": "P4"},
    )
    assert without["status"] == "ambiguous"
    assert len(without["old"]) > 5
    assert "tells them apart" in without["detail"]
    assert [old["district_name"] for old in with_district["old"]] == ["Quận 3"]


@pytest.mark.parametrize(
    ("item", "unmatched", "detail"),
    [
        ({"province": "Narnia"}, "province", "No old province is named 'Narnia'."),
        (
            {"province": "Hồ Chí Minh", "district": "Quận 99"},
            "district",
            "No old district of Thành phố Hồ Chí Minh is named 'Quận 99'.",
        ),
        (
            {"province": "Hồ Chí Minh", "district": "Quận 1", "ward": "Phường Nowhere"},
            "ward",
            "No old ward of Quận 1 is named 'Phường Nowhere'.",
        ),
        ({"ward_code": 99999}, "ward", "No old ward with code 99999."),
        ({"district_code": 999}, "district", "No old district with code 999."),
    ],
)
def test_not_found_says_which_part_did_not_match(
    item: dict[str, Any], unmatched: str, detail: str
) -> None:
    (found,) = converted(item)
    assert (found["status"], found["unmatched"]) == ("not_found", unmatched)
    assert found["detail"] == detail
    assert found["wards"] == []


@pytest.mark.parametrize(
    ("item", "detail"),
    [
        ({}, "province: Field required"),
        ({"ward_code": 1, "district_code": 1}, "exactly one of ward_code, district_code"),
        ({"ward_code": "abc"}, "ward_code: Input should be a valid integer"),
        ({"ward_code": True}, "ward_code: Input should be a valid integer"),
        ({"ward_code": 0}, "ward_code: Input should be greater than or equal to 1"),
        ({"province": "x", "street": "12 Lê Lợi"}, "street: Extra inputs are not permitted"),
        ("Phường Bến Nghé", "An item is an object"),
        (None, "An item is an object"),
    ],
)
def test_one_bad_item_never_fails_the_batch(item: Any, detail: str) -> None:
    good, bad, also_good = converted({"ward_code": 26740}, item, {"ward_code": 26743})
    assert bad["status"] == "invalid"
    assert detail in bad["detail"]
    assert (good["status"], also_good["status"]) == ("resolved", "resolved")


def test_a_full_batch_is_answered_and_one_more_item_is_a_clear_problem() -> None:
    full = [{"ward_code": 26740}] * 250 + [
        {"province": "TP. Hồ Chí Minh", "district": "Q.1", "ward": "P. Đa Kao"}
    ] * 250
    assert len(full) == MAX_CONVERT_ITEMS == 500
    found = converted(*full)
    assert Counter(item["status"] for item in found) == {"resolved": 250, "ambiguous": 250}
    reply = convert(*full, {"ward_code": 26740})
    assert reply.status == 422
    assert reply.headers["content-type"] == PROBLEM
    assert "at most 500 items" in reply.json()["detail"]


@pytest.mark.parametrize(
    "raw",
    [b'{"items": []}', b'{"items": {}}', b"[]", b'{"items": [], "more": 1}', b"{not json"],
)
def test_a_malformed_batch_is_a_422_problem(raw: bytes) -> None:
    reply = convert(raw=raw)
    assert reply.status == 422, reply.body
    assert reply.headers["content-type"] == PROBLEM


def test_a_batch_has_its_own_body_limit() -> None:
    # A full batch by names at their longest is over the 64 KiB of other routes...
    longest = {"province": "Thành phố Hồ Chí Minh", "district": "Quận 1", "ward": "P" * 100}
    body = json.dumps({"items": [longest] * MAX_CONVERT_ITEMS}).encode()
    assert 65536 < len(body) < 1024 * 1024
    assert convert(raw=body).status == 200
    # ...and a body over its own 1 MiB is refused before it is read.
    too_large = convert(raw=b'{"items": [' + b" " * (1024 * 1024) + b"]}")
    assert too_large.status == 413
    assert too_large.headers["content-type"] == PROBLEM
