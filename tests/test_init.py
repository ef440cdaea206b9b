"""INIT: what importing the Lambda handler does in a new execution environment (a new process)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from app.datasets import DATASETS
from harness.databases import Database
from harness.postgres import free_port
from harness.processes import run_python
from tests.test_migrations import EXPECTED_ROWS

# Counts every statement and new DB-API connection in the process, from before the import.
COUNTING_PRELUDE = """
import gc, importlib, json, sys, time
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool
counts = {"statements": 0, "connects": 0}
def on_execute(*args):
    counts["statements"] += 1
def on_connect(*args):
    counts["connects"] += 1
event.listen(Engine, "before_cursor_execute", on_execute)
event.listen(Pool, "connect", on_connect)
from harness.events import LambdaContext, http_v2
def get(path):
    from app.lambda_handler import handler
    reply = handler(http_v2("GET", path), LambdaContext())
    return reply["statusCode"], reply["headers"], json.loads(reply["body"])
"""


def run_init(code: str, env: dict[str, str]) -> dict[str, object]:
    result = run_python(COUNTING_PRELUDE + code, env)
    assert result.returncode == 0, result.stderr
    last_line = result.stdout.strip().splitlines()[-1]
    loaded: dict[str, object] = json.loads(last_line)
    return loaded


def test_init_connects_once_reads_every_table_and_freezes_gc(database: Database) -> None:
    out = run_init(
        """
import app.lambda_handler
from app.init import cache
rows = dict(cache.current.row_counts)
print(json.dumps({**counts, "frozen": gc.get_freeze_count(), "rows": rows}))
""",
        {"REFDATA_DATABASE_URL": database.url},
    )
    assert out["connects"] == 1
    # The version, then every dataset's table (SQLite also sends an explicit BEGIN).
    assert out["statements"] == 1 + len(DATASETS) + (database.kind == "sqlite")
    assert isinstance(out["frozen"], int)
    assert out["frozen"] > 10_000
    rows = out["rows"]
    assert isinstance(rows, dict)
    assert list(rows) == [dataset.table.__tablename__ for dataset in DATASETS]
    # What the seed holds, for every table the snapshot reads (test_migrations counts them).
    assert rows == {table: EXPECTED_ROWS[table] for table in rows}


def test_importing_again_builds_nothing_again(database: Database) -> None:
    out = run_init(
        """
import app.lambda_handler, app.main, app.init
cache_before, counts_before = app.init.cache, dict(counts)
importlib.reload(app.lambda_handler)
import app.main, app.init
print(json.dumps({
    "before": counts_before,
    "after": counts,
    "same_cache": app.init.cache is cache_before,
}))
""",
        {"REFDATA_DATABASE_URL": database.url},
    )
    assert out["after"] == out["before"]
    assert out["same_cache"] is True


def test_first_invoke_is_the_cold_start_and_later_ones_are_warm(database: Database) -> None:
    out = run_init(
        """
import app.lambda_handler
first, second = get("/health")[2], get("/health")[2]
print(json.dumps({
    "first": first["cold_start"], "second": second["cold_start"], "n": second["invocations"]
}))
""",
        {"REFDATA_DATABASE_URL": database.url},
    )
    assert out == {"first": True, "second": False, "n": 2}


def test_provisioned_concurrency_is_not_a_cold_start(database: Database) -> None:
    out = run_init(
        """
import app.lambda_handler
print(json.dumps({"cold": get("/health")[2]["cold_start"]}))
""",
        {
            "REFDATA_DATABASE_URL": database.url,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency",
        },
    )
    assert out == {"cold": False}


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections but never says a word (a hung server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


@pytest.mark.parametrize("hang", [False, True], ids=["refused", "silent"])
def test_unreachable_database_at_init_still_starts_and_answers_503(
    hang: bool, request: pytest.FixtureRequest
) -> None:
    port = request.getfixturevalue("silent_port") if hang else free_port()
    out = run_init(
        """
import app.lambda_handler
status, headers, body = get("/countries/VN")
health_status, _, health = get("/health")
print(json.dumps({
    "status": status, "retry_after": headers.get("retry-after"), "type": body["type"],
    "content_type": headers["content-type"], "health_status": health_status,
    "health": health["status"], "error": health["error"], "body": json.dumps(body),
}))
""",
        {
            "REFDATA_DATABASE_URL": f"postgresql+psycopg://refdata:s3cret-pw@127.0.0.1:{port}/x",
            "REFDATA_DB_CONNECT_TIMEOUT_SECONDS": "1",
        },
    )
    assert out["status"] == 503
    assert out["retry_after"] is not None
    assert out["type"] == "urn:refdata:problem:reference-data-unavailable"
    assert out["content_type"] == "application/problem+json"
    assert out["health_status"] == 503
    assert out["health"] == "unavailable"
    assert out["error"] == "OperationalError: reference data could not be loaded"
    assert "s3cret-pw" not in json.dumps(out)


def test_init_against_an_unmigrated_database_starts_cold_without_crashing(
    blank_database: Database,
) -> None:
    out = run_init(
        """
import app.lambda_handler
print(json.dumps({"status": get("/currencies")[0], "health": get("/health")[2]["status"]}))
""",
        {"REFDATA_DATABASE_URL": blank_database.url},
    )
    assert out == {"status": 503, "health": "unavailable"}


def test_a_cold_environment_loads_once_the_database_is_ready(blank_database: Database) -> None:
    """The cache retries on a later request (after its back-off) instead of staying dead."""
    # The back-off (5 s) starts when INIT's load fails, between `started` and `imported`. The
    # migration takes a while, so "too soon" is only asked if it is still within it.
    out = run_init(
        f"""
started = time.monotonic()
import app.lambda_handler, app.init
imported = time.monotonic()
from harness.databases import migrate
first = get("/currencies")[0]
migrate({blank_database.url!r})
within = time.monotonic() - started < 4.5
too_soon = get("/currencies")[0] if within else "the migration outlasted the back-off"
time.sleep(max(0.0, imported + 5.1 - time.monotonic()))
second = get("/currencies")[0]
print(json.dumps({{"first": first, "too_soon": too_soon, "second": second}}))
""",
        {"REFDATA_DATABASE_URL": blank_database.url, "REFDATA_CACHE_RETRY_SECONDS": "5"},
    )
    assert out == {"first": 503, "too_soon": 503, "second": 200}
