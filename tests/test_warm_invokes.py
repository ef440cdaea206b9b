"""The promise: a warm invoke of any reference route runs no SQL and opens no connection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.datasets import SAMPLE_PATHS
from harness.events import SHAPES
from harness.http import invoke
from harness.sql import ServerStatements, SqlWindow

# Every route of every dataset, with each form of key and a search where it searches; keys
# a route normalises (any case, no zero padding) and searches with accents and spaces; the
# conversion routes (app/routes/conversion.py, outside the registry).
REFERENCE_PATHS = [
    *SAMPLE_PATHS,
    "/countries/vnm",
    "/countries/4",
    "/currencies/vnd",
    "/countries?q=viet",
    "/vn/provinces/79/wards?q=s%C3%A0i%20g%C3%B2n",
    "/vn/legacy/wards/26737/successors",
    "/vn/legacy/districts/760/successors",
    "/vn/legacy/provinces/77/successors",
    "/vn/wards/26740/predecessors",
    "/health",
]


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    # The first invoke of an environment is its cold one; these tests are about the rest.
    invoke(SHAPES["http_v2"]("GET", "/health"))


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("path", REFERENCE_PATHS)
def test_warm_invoke_runs_no_sql_and_opens_no_connection(
    shape: str,
    path: str,
    sql: SqlWindow,
    server_statements: ServerStatements | None,
) -> None:
    make_event: Callable[..., dict[str, Any]] = SHAPES[shape]
    reply = invoke(make_event("GET", path))
    assert reply.status == 200, reply.body
    assert reply.json()  # a real body, not an empty answer
    assert sql.statements == []
    assert sql.connects == 0
    assert sql.checkouts == 0
    if server_statements is not None:
        assert server_statements.count() == 0


def test_errors_on_a_warm_environment_run_no_sql_either(sql: SqlWindow) -> None:
    for path in ("/countries/XX", "/countries/12345", "/vn/wards/1", "/nope"):
        assert invoke(SHAPES["http_v2"]("GET", path)).status in (404, 422)
    assert sql.statements == []
    assert sql.checkouts == 0


@pytest.mark.parametrize("path", SAMPLE_PATHS)
def test_a_conditional_request_answers_304_with_no_sql(path: str, sql: SqlWindow) -> None:
    etag = invoke(SHAPES["http_v2"]("GET", path)).headers["etag"]
    sql.reset()
    reply = invoke(SHAPES["http_v2"]("GET", path, {"If-None-Match": etag}))
    assert reply.status == 304
    assert reply.body == b""
    assert reply.headers["etag"] == etag
    assert sql.statements == []
    assert sql.checkouts == 0


def test_every_response_carries_server_timing() -> None:
    for path in ("/countries/VN", "/countries/XX", "/health"):
        timing = invoke(SHAPES["http_v2"]("GET", path)).headers["server-timing"]
        assert timing.startswith("app;dur=")
