"""What a client sees from each reference route (through the Mangum handler, HTTP API v2)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from pydantic import TypeAdapter

from app.schemas import (
    CountryRead,
    CurrencyRead,
    ProvinceRead,
    SettingRead,
    SubdivisionRead,
    WardRead,
)
from harness.events import http_v2
from harness.http import get, invoke, ok, problem


class TestCountries:
    def test_list_has_every_iso_3166_1_country(self) -> None:
        countries = TypeAdapter(list[CountryRead]).validate_python(ok("/countries"))
        assert len(countries) == 249
        assert [c.alpha_2 for c in countries] == sorted(c.alpha_2 for c in countries)

    @pytest.mark.parametrize("code", ["VN", "vn", "VNM", "vnm", "704", "Vn"])
    def test_any_code_and_case_finds_the_country(self, code: str) -> None:
        assert ok(f"/countries/{code}")["name"] == "Viet Nam"

    def test_short_numeric_codes_are_zero_padded(self) -> None:
        assert ok("/countries/4")["alpha_2"] == "AF"  # numeric 004

    def test_search_ignores_case_and_accents(self) -> None:
        names = [c["name"] for c in ok("/countries?q=COTE%20D%27IVOIRE")]
        assert names == ["Côte d'Ivoire"]
        assert [c["alpha_2"] for c in ok("/countries?q=turkiye")] == ["TR"]

    def test_search_matches_official_names(self) -> None:
        assert "VN" in [c["alpha_2"] for c in ok("/countries?q=socialist%20republic")]

    def test_search_with_no_match_is_an_empty_list(self) -> None:
        assert ok("/countries?q=atlantis") == []

    def test_subdivisions_of_vietnam_are_the_old_iso_list(self) -> None:
        subdivisions = TypeAdapter(list[SubdivisionRead]).validate_python(
            ok("/countries/vnm/subdivisions")
        )
        assert len(subdivisions) == 63
        assert {s.country_code for s in subdivisions} == {"VN"}

    def test_subdivisions_carry_their_parent(self) -> None:
        by_code = {s["code"]: s for s in ok("/countries/GB/subdivisions")}
        assert by_code["GB-BAS"]["parent_code"] == "GB-ENG"

    def test_country_without_subdivisions_has_an_empty_list(self) -> None:
        assert ok("/countries/AQ/subdivisions") == []

    def test_unknown_code_is_404(self) -> None:
        body = problem("/countries/XX", 404)
        assert body["type"] == "urn:refdata:problem:not-found"
        assert "XX" in body["detail"]
        problem("/countries/XX/subdivisions", 404)

    @pytest.mark.parametrize("code", ["V", "VNMM", "1234", "V1", "%20", "..", "v%27n"])
    def test_malformed_code_is_422(self, code: str) -> None:
        body = problem(f"/countries/{code}", 422)
        assert body["type"] == "urn:refdata:problem:validation-error"
        assert body["errors"][0]["loc"] == ["path", "code"]

    @pytest.mark.parametrize("q", ["", "%21%21%21", "x" * 101])
    def test_unusable_search_is_422(self, q: str) -> None:
        problem(f"/countries?q={q}", 422)


class TestCurrencies:
    def test_list_has_every_iso_4217_currency(self) -> None:
        currencies = TypeAdapter(list[CurrencyRead]).validate_python(ok("/currencies"))
        assert len(currencies) == 178

    def test_lookup_is_case_insensitive(self) -> None:
        assert ok("/currencies/vnd") == {"code": "VND", "numeric": "704", "name": "Dong"}

    def test_unknown_and_malformed(self) -> None:
        problem("/currencies/QQQ", 404)
        problem("/currencies/EURO", 422)


class TestVietnam:
    def test_34_provinces_after_the_2025_reform(self) -> None:
        provinces = TypeAdapter(list[ProvinceRead]).validate_python(ok("/vn/provinces"))
        assert len(provinces) == 34

    @pytest.mark.parametrize("q", ["ho chi minh", "Hồ Chí Minh", "HO-CHI-MINH", "thanh pho ho"])
    def test_accent_insensitive_search_finds_ho_chi_minh_city(self, q: str) -> None:
        names = [p["name"] for p in ok(f"/vn/provinces?q={quote(q)}")]
        assert names == ["Thành phố Hồ Chí Minh"]

    def test_d_with_stroke_folds_to_d(self) -> None:
        assert [p["code"] for p in ok("/vn/provinces?q=da%20nang")] == [48]

    def test_province_by_code(self) -> None:
        assert ok("/vn/provinces/79")["codename"] == "ho_chi_minh"

    def test_wards_of_a_province(self) -> None:
        wards = TypeAdapter(list[WardRead]).validate_python(ok("/vn/provinces/79/wards"))
        assert len(wards) > 100
        assert {w.province_code for w in wards} == {79}

    def test_ward_search_within_a_province(self) -> None:
        assert [w["name"] for w in ok("/vn/provinces/79/wards?q=sai%20gon")] == ["Phường Sài Gòn"]
        assert ok("/vn/provinces/1/wards?q=sai%20gon") == []

    def test_ward_by_code(self) -> None:
        ward = ok("/vn/wards/26740")
        assert ward["name"] == "Phường Sài Gòn"
        assert ward["province_code"] == 79

    def test_unknown_and_malformed(self) -> None:
        problem("/vn/provinces/3", 404)
        problem("/vn/provinces/3/wards", 404)
        problem("/vn/wards/99998", 404)
        problem("/vn/provinces/abc", 422)
        problem("/vn/provinces/0", 422)
        problem("/vn/wards/-1", 422)
        problem("/vn/wards/1e3", 422)


class TestSettings:
    def test_thresholds_are_typed(self) -> None:
        settings = {
            s.key: s for s in TypeAdapter(list[SettingRead]).validate_python(ok("/settings"))
        }
        assert settings["max_order_total_vnd"].value == 50_000_000
        assert settings["warehouse_province_code"].value == 79
        assert settings["currency"].value == "VND"

    def test_one_setting(self) -> None:
        assert ok("/settings/free_shipping_threshold_vnd")["value"] == 1_000_000

    def test_unknown_and_malformed(self) -> None:
        problem("/settings/no_such_key", 404)
        problem("/settings/Bad-Key", 422)


class TestHttpCaching:
    def test_responses_carry_a_strong_etag_and_cache_control(self) -> None:
        reply = get("/countries/VN")
        assert reply.headers["etag"].startswith('"')
        assert reply.headers["cache-control"].startswith("public, max-age=")

    def test_if_none_match_gives_304_without_a_body(self) -> None:
        etag = get("/vn/provinces").headers["etag"]
        reply = get("/vn/provinces", {"If-None-Match": etag})
        assert reply.status == 304
        assert reply.body == b""
        assert reply.headers["etag"] == etag

    def test_a_stale_tag_gets_the_full_body(self) -> None:
        reply = get("/vn/provinces", {"If-None-Match": '"not-the-tag"'})
        assert reply.status == 200
        assert len(reply.json()) == 34

    def test_different_resources_have_different_tags(self) -> None:
        assert get("/countries/VN").headers["etag"] != get("/countries/FR").headers["etag"]


class TestErrors:
    def test_unknown_route_is_a_problem_404(self) -> None:
        assert problem("/nope", 404)["type"] == "urn:refdata:problem:not-found"

    def test_wrong_method_is_a_problem_405(self) -> None:
        reply = invoke(http_v2("DELETE", "/countries"))
        assert reply.status == 405
        assert reply.headers["content-type"] == "application/problem+json"

    def test_problem_bodies_are_text_not_base64_in_lambda_responses(self) -> None:
        from app.lambda_handler import handler
        from harness.events import LambdaContext

        raw = handler(http_v2("GET", "/countries/XX"), LambdaContext())
        assert raw["isBase64Encoded"] is False
