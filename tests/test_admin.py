"""The admin API: bearer-key auth, typed setting updates that bump the version, refresh."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from app.datasets import setting_values
from app.init import cache
from app.kit.logs import JsonFormatter, logger
from harness import ADMIN_KEY
from harness.databases import Database
from harness.events import http_v2
from harness.http import Reply, invoke
from harness.processes import run_python


def admin(
    method: str, path: str, body: Any = None, authorization: str | None = f"Bearer {ADMIN_KEY}"
) -> Reply:
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    payload = None if body is None else json.dumps(body).encode()
    return invoke(http_v2(method, path, headers, payload))


@pytest.fixture
def restore_settings() -> Iterator[None]:
    """Put every setting back as it was, so other tests see the seeded thresholds."""
    before = setting_values(cache.snapshot())
    yield
    current = setting_values(cache.snapshot())
    for key, value in before.items():
        if current.get(key) != value:
            assert admin("PUT", f"/admin/settings/{key}", {"value": value}).status == 200


class TestAuth:
    def test_no_token_is_401_with_a_bearer_challenge(self) -> None:
        reply = admin("POST", "/admin/cache/refresh", authorization=None)
        assert reply.status == 401
        assert reply.headers["www-authenticate"] == "Bearer"
        assert reply.headers["content-type"] == "application/problem+json"

    @pytest.mark.parametrize("authorization", [f"Basic {ADMIN_KEY}", "Bearer", ADMIN_KEY])
    def test_not_a_bearer_token_is_401(self, authorization: str) -> None:
        assert admin("POST", "/admin/cache/refresh", authorization=authorization).status == 401

    @pytest.mark.parametrize(
        "key", ["wrong", ADMIN_KEY[:-1], ADMIN_KEY + "x", ADMIN_KEY.upper(), "x" * 200]
    )
    def test_a_wrong_key_is_403(self, key: str) -> None:
        reply = admin("POST", "/admin/cache/refresh", authorization=f"Bearer {key}")
        assert reply.status == 403
        assert reply.json()["type"] == "urn:refdata:problem:forbidden"

    def test_the_key_never_reaches_a_response_or_the_log(
        self, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The suite logs at WARNING; at DEBUG every request line is written and could leak.
        # The log stream is read directly: it was bound at import, before any capture.
        monkeypatch.setattr(logger, "level", logger.level)  # restored after the test
        logger.setLevel(logging.DEBUG)
        log = io.StringIO()
        for handler in logger.handlers:
            if isinstance(handler.formatter, JsonFormatter):
                monkeypatch.setattr(handler, "stream", log)
        for key in (ADMIN_KEY, "wrong-key-but-secret-looking"):
            reply = admin("POST", "/admin/cache/refresh", authorization=f"Bearer {key}")
            assert key.encode() not in reply.body
        out, err = capfd.readouterr()
        err += log.getvalue()
        assert ADMIN_KEY not in out + err
        assert "wrong-key-but-secret-looking" not in out + err


def test_refresh_reloads_this_environment() -> None:
    loads = cache.counters["loads"]
    before = cache.snapshot()
    reply = admin("POST", "/admin/cache/refresh")
    assert reply.status == 200
    assert reply.json()["row_counts"]["vn_ward"] == 3321
    assert cache.snapshot() is not before
    assert cache.counters["loads"] == loads + 1


@pytest.mark.usefixtures("restore_settings")
class TestSettingUpdates:
    def test_a_change_bumps_the_version_and_this_environment_sees_it_next(self) -> None:
        version = cache.snapshot().version
        reply = admin("PUT", "/admin/settings/free_shipping_threshold_vnd", {"value": 2_000_000})
        assert reply.status == 200, reply.body
        assert reply.json() == {
            "key": "free_shipping_threshold_vnd",
            "value": 2_000_000,
            "value_type": "int",
            "description": reply.json()["description"],
            "reference_version": version + 1,
        }
        read = invoke(http_v2("GET", "/settings/free_shipping_threshold_vnd"))
        assert read.json()["value"] == 2_000_000
        assert cache.snapshot().version == version + 1

    def test_writes_in_a_row_each_succeed_and_reads_go_on(self) -> None:
        # The second write revalidates the cache the first one invalidated. It used to do
        # that while its session held the pool's only connection: a 30 s wait, a 503, and
        # reference reads refused until the back-off ended (found by tests/test_fuzz.py).
        version = cache.snapshot().version
        failures = cache.counters["failures"]
        for value in (2_000_000, 3_000_000, 4_000_000):
            reply = admin("PUT", "/admin/settings/free_shipping_threshold_vnd", {"value": value})
            assert reply.status == 200, reply.body
        assert cache.counters["failures"] == failures  # no revalidation failed, none backs off
        assert invoke(http_v2("GET", "/countries/VN")).status == 200
        read = invoke(http_v2("GET", "/settings/free_shipping_threshold_vnd"))
        assert read.json()["value"] == 4_000_000
        assert cache.snapshot().version == version + 3
        assert cache.last_error is None

    @pytest.mark.parametrize(
        ("key", "value"),
        [
            ("max_order_total_vnd", "60000000"),  # a string for an int
            ("max_order_total_vnd", True),  # a bool is not an int here
            ("max_order_total_vnd", 1.5),
            ("max_order_total_vnd", -1),
            ("max_order_total_vnd", 2**63),  # stored, no snapshot could encode it again
            ("max_order_items", 10**30),
            ("warehouse_province_code", 3),  # no such province
            ("currency", "XYZ"),  # no such currency
            ("currency", ""),
            ("currency", 704),
        ],
    )
    def test_values_are_checked_against_the_setting(self, key: str, value: Any) -> None:
        version = cache.snapshot().version
        reply = admin("PUT", f"/admin/settings/{key}", {"value": value})
        assert reply.status == 422, reply.body
        assert reply.headers["content-type"] == "application/problem+json"
        assert cache.snapshot().version == version  # nothing was written

    def test_unknown_and_malformed_keys(self) -> None:
        assert admin("PUT", "/admin/settings/no_such_key", {"value": 1}).status == 404
        assert admin("PUT", "/admin/settings/Bad-Key", {"value": 1}).status == 422
        assert admin("PUT", "/admin/settings/currency", {"nope": 1}).status == 422
        assert admin("PUT", "/admin/settings/currency", "not an object").status == 422


def test_without_a_key_the_admin_routes_do_not_exist(database: Database) -> None:
    result = run_python(
        "import json; from app.lambda_handler import handler; from harness.events import *\n"
        "r = handler(http_v2('POST', '/admin/cache/refresh'), LambdaContext())\n"
        "spec = json.loads(handler(http_v2('GET', '/openapi.json'), LambdaContext())['body'])\n"
        "print(json.dumps([r['statusCode'], sorted(spec['paths'])]))",
        {"REFDATA_DATABASE_URL": database.url, "REFDATA_ADMIN_API_KEY": ""},
    )
    assert result.returncode == 0, result.stderr
    status, paths = json.loads(result.stdout.splitlines()[-1])
    assert status == 404
    assert not [path for path in paths if path.startswith("/admin")]


def test_a_short_admin_key_is_refused_at_init(database: Database) -> None:
    result = run_python(
        "import app.lambda_handler",
        {"REFDATA_DATABASE_URL": database.url, "REFDATA_ADMIN_API_KEY": "short"},
    )
    assert result.returncode != 0
    assert "REFDATA_ADMIN_API_KEY" in result.stderr
    assert "short" not in result.stderr.replace("REFDATA_ADMIN_API_KEY", "")
