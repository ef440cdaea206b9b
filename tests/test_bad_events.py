"""Malformed and unusual Lambda events: always a well-formed response, never a broken
environment — the next valid invoke still answers 200 with no SQL."""

from __future__ import annotations

import base64
import functools
import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from app.lambda_handler import Handler, handler
from app.problems import BadEvent, ResponseNotEncodable, encode
from harness.events import SHAPES, LambdaContext, alb, http_v2, replaced, rest_v1
from harness.http import ORDERS_AUTH, invoke
from harness.sql import SqlWindow

Event = Any


def without(event: dict[str, Any], *path: str) -> dict[str, Any]:
    target = event
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return event


# A client of the orders routes: JSON, with the orders key.
ORDER_HEADERS = {"content-type": "application/json", **ORDERS_AUTH}


def with_bad_base64() -> dict[str, Any]:
    event = http_v2("POST", "/orders/quote", ORDER_HEADERS, b"{}")
    event["isBase64Encoded"] = True
    event["body"] = "!!! not base64 !!!"
    return event


ORDER = b'{"address": {"province_code": 79, "ward_code": 26740, "street": "x"}}'

CASES: dict[str, Callable[[], Event]] = {
    "none": lambda: None,
    "empty object": lambda: {},
    "a list": lambda: [1, 2, 3],
    "a string": lambda: "GET /countries",
    "an SQS batch": lambda: {"Records": [{"eventSource": "aws:sqs", "body": "{}"}]},
    "a scheduled event": lambda: {"source": "aws.events", "detail-type": "Scheduled Event"},
    "v2 without requestContext": lambda: without(http_v2("GET", "/countries"), "requestContext"),
    "v2 without http": lambda: without(http_v2("GET", "/countries"), "requestContext", "http"),
    "v2 bare": lambda: {"version": "2.0"},
    "v1 bare": lambda: {"resource": "/", "requestContext": {}},
    "ALB bare": lambda: {"requestContext": {"elb": {}}},
    "v1 without headers": lambda: without(rest_v1("GET", "/countries"), "headers"),
    "null headers": lambda: replaced(http_v2("GET", "/countries"), None, "headers"),
    "null query string": lambda: replaced(http_v2("GET", "/countries"), None, "rawQueryString"),
    "a number as body": lambda: replaced(
        http_v2("POST", "/orders/quote", ORDER_HEADERS), 12, "body"
    ),
    "invalid base64 body": with_bad_base64,
    "base64 of binary garbage": lambda: replaced(
        replaced(http_v2("POST", "/orders/quote", ORDER_HEADERS), True, "isBase64Encoded"),
        base64.b64encode(bytes(range(256))).decode(),
        "body",
    ),
    "a 3 MB body": lambda: http_v2(
        "POST",
        "/orders",
        ORDER_HEADERS,
        b'{"x":"' + b"a" * 3_000_000 + b'"}',
    ),
    "odd method": lambda: replaced(
        replaced(rest_v1("BREW", "/countries"), "BREW", "requestContext", "httpMethod"),
        "BREW",
        "httpMethod",
    ),
    "empty method": lambda: replaced(
        http_v2("GET", "/countries"), "", "requestContext", "http", "method"
    ),
    "TRACE": lambda: http_v2("TRACE", "/countries"),
    "invalid UTF-8 in the path": lambda: http_v2("GET", "/countries/%ff%fe"),
    "invalid UTF-8 in the query": lambda: http_v2("GET", "/vn/provinces?q=%ff%fe%fd"),
    "a lone surrogate in the path": lambda: replaced(
        http_v2("GET", "/countries/x"), "/countries/\udcff", "requestContext", "http", "path"
    ),
    "a lone surrogate in the query": lambda: replaced(
        http_v2("GET", "/countries"), "q=\udcff", "rawQueryString"
    ),
    "a lone surrogate in a header name": lambda: http_v2("GET", "/countries", {"x-\udcff": "v"}),
    "a 200 kB header": lambda: http_v2("GET", "/countries/VN", {"x-big": "a" * 200_000}),
    "500 headers": lambda: http_v2("GET", "/countries/VN", {f"x-h{i}": "v" for i in range(500)}),
    "a NUL in the path": lambda: http_v2("GET", "/countries/V%00N"),
    "ALB with an encoded query": lambda: alb("GET", "/vn/provinces?q=h%E1%BB%93"),
    "JSON that is not an order": lambda: http_v2("POST", "/orders", ORDER_HEADERS, b"[1, 2, 3]"),
    "truncated JSON": lambda: http_v2("POST", "/orders", ORDER_HEADERS, ORDER[:-5]),
    # Fields of the right name and the wrong type, where the client's prefix is read.
    "ALB with requestContext a list": lambda: replaced(
        alb("GET", "/countries"), ["elb"], "requestContext"
    ),
    "ALB with requestContext a string": lambda: replaced(
        alb("GET", "/countries"), "elb", "requestContext"
    ),
    "v2 with requestContext.http a list": lambda: replaced(
        http_v2("GET", "/countries"), ["x"], "requestContext", "http"
    ),
    "v1 with requestContext.path null": lambda: replaced(
        rest_v1("GET", "/countries"), None, "requestContext", "path"
    ),
    # A Content-Length no integer can hold (Python's int() refuses 5,000 digits), every shape.
    **{
        f"a Content-Length of 5,000 digits ({name})": functools.partial(
            shape, "POST", "/orders/quote", {**ORDER_HEADERS, "content-length": "9" * 5000}, ORDER
        )
        for name, shape in SHAPES.items()
    },
}


# What each case gets: its status is fixed, not a range.
STATUS: dict[str, int] = {
    # Unusual but readable: answered like any request.
    "500 headers": 200,
    "ALB with an encoded query": 200,
    "a 200 kB header": 200,
    "v1 without headers": 200,
    # Not an HTTP request this function can read: the bad-event problem.
    "ALB bare": 400,
    "a list": 400,
    "a lone surrogate in a header name": 400,
    "a lone surrogate in the query": 400,
    "a number as body": 400,
    "a scheduled event": 400,
    "a string": 400,
    "an SQS batch": 400,
    "empty object": 400,
    "invalid base64 body": 400,
    "none": 400,
    "null headers": 400,
    "null query string": 400,
    "v1 bare": 400,
    "v2 bare": 400,
    "v2 without http": 400,
    "v2 without requestContext": 400,
    "ALB with requestContext a list": 400,
    "ALB with requestContext a string": 400,
    "v2 with requestContext.http a list": 400,
    "v1 with requestContext.path null": 400,
    # A request, but a malformed one.
    **{f"a Content-Length of 5,000 digits ({name})": 400 for name in SHAPES},
    # A method no route has.
    "TRACE": 405,
    "empty method": 405,
    "odd method": 405,
    # Over the body limit.
    "a 3 MB body": 413,
    # Readable, but the path, query or body is invalid.
    "JSON that is not an order": 422,
    "a NUL in the path": 422,
    "a lone surrogate in the path": 422,
    "base64 of binary garbage": 422,
    "invalid UTF-8 in the path": 422,
    "invalid UTF-8 in the query": 422,
    "truncated JSON": 422,
}


def assert_well_formed(response: Any) -> None:
    assert isinstance(response, dict)
    assert isinstance(response["statusCode"], int)
    assert isinstance(response["isBase64Encoded"], bool)
    assert isinstance(response.get("body", ""), str)
    headers = response.get("headers") or {}
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
    json.dumps(response)  # the runtime must be able to serialise it


def test_every_case_has_its_status() -> None:
    assert sorted(STATUS) == sorted(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_event_gets_its_status_well_formed_and_the_next_invoke_is_warm(
    case: str, sql: SqlWindow
) -> None:
    response = handler(CASES[case](), LambdaContext())
    assert_well_formed(response)
    assert response["statusCode"] == STATUS[case], response
    body = response.get("body") or ""
    for leak in ("Traceback", 'File "', "site-packages", "sqlalchemy", "SELECT "):
        assert leak not in body
    sql.reset()
    after = invoke(http_v2("GET", "/countries/VN"))
    assert after.status == 200
    assert after.json()["alpha_2"] == "VN"
    assert sql.statements == []


def test_events_that_are_not_http_get_the_documented_400() -> None:
    events: list[Any] = [None, {}, {"Records": []}]
    for event in events:
        response = handler(event, LambdaContext())
        assert response["statusCode"] == 400
        assert json.loads(response["body"])["type"] == "urn:refdata:problem:bad-event"


def test_a_huge_body_is_refused_with_413() -> None:
    response = handler(CASES["a 3 MB body"](), LambdaContext())
    assert response["statusCode"] == 413


def test_the_400_is_the_catalogs_bad_event_written_by_the_one_encoder() -> None:
    response = handler({"Records": []}, LambdaContext())
    expected = BadEvent("The Lambda event is not an HTTP request this function can read.")
    assert response["statusCode"] == BadEvent.status
    assert response["headers"] == {"content-type": "application/problem+json"}
    assert response["body"] == encode(expected, None).decode()
    assert json.loads(response["body"])["title"] == BadEvent.title


async def latin1_header(scope: Any, receive: Any, send: Any) -> None:
    """An app whose response header API Gateway's UTF-8 format cannot carry."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-name", b"\xe9")]})
    await send({"type": "http.response.body", "body": b"{}"})


def test_a_response_the_integration_cannot_carry_is_the_catalogs_502() -> None:
    response = Handler(latin1_header)(http_v2("GET", "/countries"), LambdaContext())
    expected = ResponseNotEncodable("The response could not be encoded for this integration.")
    assert response["statusCode"] == ResponseNotEncodable.status == 502
    assert response["headers"] == {"content-type": "application/problem+json"}
    assert response["body"] == encode(expected, None).decode()
    assert_well_formed(response)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_event_leaves_no_error_and_no_traceback_in_the_log(
    case: str, log_to: Callable[[Any], None]
) -> None:
    stream = io.StringIO()
    log_to(stream)
    handler(CASES[case](), LambdaContext())
    log = stream.getvalue()
    assert log  # the request's line, or the unreadable event's
    assert '"level":"ERROR"' not in log
    assert "Traceback" not in log
