"""Bounded per request, whatever the body: a 422 of a few kilobytes, names refused before any
work, no memory kept for what clients send, and every route's largest answer inside Lambda's
response limit with room to spare (harness/worst.py builds each route's worst request)."""

from __future__ import annotations

import json
import sys
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
from starlette.routing import Route

from app.init import settings
from app.schemas import MAX_CONVERT_ITEMS
from harness.datasets import with_settings
from harness.events import LambdaContext, http_v2
from harness.http import ORDERS_AUTH, Reply, get, problem, reply, send
from harness.worst import (
    BUDGET,
    JSON,
    LAMBDA_RESPONSE_LIMIT,
    Worst,
    conversion_cases,
    dataset_cases,
    largest_order,
    marshalled,
    static_cases,
    unknown_keys,
)

T = TypeVar("T")
# A 422 stays this small whatever the body held, and lists this many errors at most.
SMALL = 4096
MAX_ERRORS = 20


def assert_small_422(answer: Reply, errors: int) -> dict[str, Any]:
    body = problem(answer, 422)
    assert len(answer.body) <= SMALL
    assert len(body["errors"]) == min(errors, MAX_ERRORS)
    if errors > MAX_ERRORS:
        assert body["error_count"] == errors
        assert f"{errors:,} errors" in body["detail"]
    return body


# A 422 lists a bounded number of errors.


def test_a_megabyte_of_unknown_keys_is_a_small_422() -> None:
    body = unknown_keys(settings.max_convert_body_bytes)
    answer = send("POST", "/vn/convert", body, JSON)
    assert_small_422(answer, json.loads(body).__len__())


def calls(name: str, during: Callable[[], T]) -> tuple[int, T]:
    """How many times a Python function called `name` ran during `during()` (in this thread:
    on Lambda, the whole request), and what `during` returned."""
    count = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal count
        if event == "call" and frame.f_code.co_name == name:
            count += 1

    sys.setprofile(profile)
    try:
        result = during()
    finally:
        sys.setprofile(None)
    return count, result


def test_a_megabyte_of_items_is_a_small_422_without_validating_them() -> None:
    count = (settings.max_convert_body_bytes - 20) // 3
    body = b'{"items":[' + b",".join([b"{}"] * count) + b"]}"
    validated, answer = calls(
        "_each_on_its_own", lambda: send("POST", "/vn/convert", body, JSON)
    )  # the validator of one item (app/schemas.py)
    error = assert_small_422(answer, 1)["errors"][0]
    assert error["loc"] == ["body", "items"]
    assert f"not {count}" in error["msg"]
    assert validated == 0
    # The same validator does run for a batch that is not refused whole.
    validated, _ = calls(
        "_each_on_its_own", lambda: send("POST", "/vn/convert", b'{"items":[{}]}', JSON)
    )
    assert validated == 1


@pytest.mark.parametrize("path", ["/orders", "/orders/quote"])
def test_an_order_body_of_unknown_keys_is_a_small_422(path: str) -> None:
    body = unknown_keys(settings.max_body_bytes)
    assert_small_422(send("POST", path, body, JSON), len(json.loads(body)) + 3)  # + 3 missing


def test_the_first_errors_are_listed_in_order() -> None:
    body = unknown_keys(2000)
    listed = problem(send("POST", "/vn/convert", body, JSON), 422)["errors"]
    assert [error["loc"][1] for error in listed] == list(json.loads(body))[:MAX_ERRORS]


# Names longer than any unit's are refused before any work.


@pytest.mark.parametrize(
    "name",
    ["x" * 101, "\ufdfa" * 98 + "ab", "ﷺ" * 6],  # over 100 as written; over 100 once normalised
    ids=["101 characters", "100 that normalise to 1,766", "6 that normalise to 108"],
)
def test_an_over_long_name_makes_the_batch_a_422_before_any_item_is_converted(name: str) -> None:
    last = MAX_CONVERT_ITEMS - 1
    items: list[dict[str, Any]] = [{"ward_code": 26740}] * last + [{"province": name}]
    answer = send("POST", "/vn/convert", json.dumps({"items": items}).encode(), JSON)
    body = problem(answer, 422)
    assert body["errors"] == [
        {"loc": ["body", "items", str(last), "province"], "msg": body["errors"][0]["msg"]}
    ]
    assert "100 characters" in body["detail"]


def test_a_name_of_a_hundred_plain_characters_is_still_an_address() -> None:
    items = [{"province": "Hồ Chí Minh", "ward": "x" * 100}]
    answer = send("POST", "/vn/convert", json.dumps({"items": items}).encode(), JSON)
    assert answer.status == 200
    assert answer.json()["items"][0]["status"] == "not_found"


@pytest.mark.parametrize("q", ["x" * 101, "\ufdfa" * 10])
def test_an_over_long_search_is_a_422(q: str) -> None:
    body = problem(f"/vn/legacy/provinces?q={quote(q)}", 422)
    assert body["errors"][0]["loc"] == ["query", "q"]


# Nothing a client sends is kept.


def test_batches_of_names_never_seen_leave_no_memory_behind() -> None:
    def batch(run: int) -> bytes:
        items = [
            {"province": "Hà Nội", "district": f"{run}-{i}-" + "d" * 90, "ward": "w" * 100}
            for i in range(MAX_CONVERT_ITEMS)
        ]
        return json.dumps({"items": items}).encode()

    assert send("POST", "/vn/convert", batch(0), JSON).status == 200  # what is made once
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for run in range(1, 6):
            assert send("POST", "/vn/convert", batch(run), JSON).status == 200
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # 5,000 names never seen before; with a memo of each (as there was), about 5 MB stayed.
    assert kept < 512 * 1024, f"{kept:,} bytes kept"


# Every route's worst legal request fits Lambda's response limit, with room to spare.


@pytest.fixture
def generous(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thresholds that accept the largest order a body can carry (a business may set them)."""
    from app.datasets import SETTING_INT_MAX, setting_values
    from app.init import cache

    current = cache.snapshot()
    values = {
        **setting_values(current),
        "max_order_items": SETTING_INT_MAX,
        "max_order_total_vnd": SETTING_INT_MAX,
    }
    loose = with_settings(current, values)

    async def asnapshot() -> Any:
        return loose

    monkeypatch.setattr(cache, "snapshot", lambda: loose)  # what every route is served from
    monkeypatch.setattr(cache, "asnapshot", asnapshot)


def order_cases() -> Iterator[Worst]:
    order = json.dumps(largest_order(settings.max_body_bytes), ensure_ascii=False).encode()
    headers = {**JSON, **ORDERS_AUTH}
    yield Worst("POST /orders/quote", "/orders/quote", "the largest order", order, headers)
    yield Worst("POST /orders", "/orders", "the largest order", order, headers)


def worst_cases() -> list[Worst]:
    from app.init import cache

    snapshot = cache.snapshot()
    return [
        *dataset_cases(snapshot),
        *conversion_cases(snapshot),
        *static_cases(get("/docs").body.decode()),
    ]


@pytest.fixture(scope="module")
def cases() -> list[Worst]:
    return worst_cases()


def lambda_bytes(case: Worst) -> tuple[int, dict[str, Any]]:
    from app.lambda_handler import handler

    response = handler(http_v2(case.method, case.path, case.headers, case.body), LambdaContext())
    return marshalled(response), response


def test_every_route_has_its_worst_case_here(cases: list[Worst]) -> None:
    from app.main import app

    routes = {
        f"{method} {route.path}"
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    covered = {case.route for case in cases} | {
        "POST /orders/quote",
        "POST /orders",
        "GET /orders/{order_id}",
        "GET /orders",
        "PUT /admin/settings/{key}",
        "POST /admin/cache/refresh",
    }
    assert routes <= covered, routes - covered


def test_each_routes_worst_answer_fits_lambdas_limit_with_half_of_it_to_spare(
    cases: list[Worst],
) -> None:
    over = {}
    for case in cases:
        size, response = lambda_bytes(case)
        assert response["statusCode"] == 200, (case.route, reply(response).body[:300])
        if size > BUDGET:
            over[case.route] = size
    assert over == {}, f"over {BUDGET:,} of Lambda's {LAMBDA_RESPONSE_LIMIT:,} bytes"


@pytest.mark.usefixtures("generous")
def test_the_largest_orders_and_their_pages_fit_too() -> None:
    ids = []
    for case in order_cases():
        size, response = lambda_bytes(case)
        assert response["statusCode"] in (200, 201), reply(response).body[:300]
        assert size <= BUDGET
        if case.path == "/orders":
            ids.append(json.loads(response["body"])["id"])
    # Enough of the largest orders that a page of them would pass the page's size.
    order = json.dumps(largest_order(settings.max_body_bytes), ensure_ascii=False).encode()
    headers = {**JSON, **ORDERS_AUTH}
    for _ in range(15):
        placed = send("POST", "/orders", order, {**headers, "Idempotency-Key": str(uuid.uuid4())})
        assert placed.status == 201
        ids.append(placed.json()["id"])
    largest, _ = lambda_bytes(
        Worst("GET /orders/{order_id}", f"/orders/{ids[0]}", "", None, headers)
    )
    assert largest <= BUDGET
    page_size, response = lambda_bytes(Worst("GET /orders", "/orders?limit=100", "", None, headers))
    answer = json.loads(response["body"])
    assert page_size <= BUDGET
    assert len(response["body"].encode()) <= 1024 * 1024 + 1024  # a page: at most 1 MiB of orders
    assert answer["next_cursor"] is not None
    assert 0 < len(answer["items"]) < 16
