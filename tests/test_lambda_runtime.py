"""The handler under AWS's own runtime interface client (awslambdaric), in its own process.

Lambda's Python runtime bootstrap, against an emulated Runtime API (harness/lambda_runtime.py):
INIT happens once, then every invoke is fetched from `/invocation/next` and answered from the
snapshot, with no SQL. One process serves the whole module.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.databases import APP_ROLE, Database
from harness.datasets import SAMPLE_PATHS
from harness.events import http_v2
from harness.http import Reply, reply
from harness.lambda_runtime import RuntimeEmulator, RuntimeProcess
from harness.sql import ServerStatements

INIT_TIMEOUT = 90.0  # seconds; a bound, not an expectation
INVOKE_TIMEOUT = 15.0
HCMC = "Thành phố Hồ Chí Minh"


def _is_vietnam(body: Any) -> bool:
    return bool(body["alpha_2"] == "VN" and body["alpha_3"] == "VNM" and body["numeric"] == "704")


# Answers the seed data fixes, in the order they are invoked; /health is spread among them.
CHECKED: list[tuple[str, Callable[[Any], bool]]] = [
    ("/countries/VN", _is_vietnam),
    ("/health", lambda body: body["status"] == "ok"),
    ("/countries", lambda body: len(body) == 249),
    ("/countries?q=viet", lambda body: [c["alpha_2"] for c in body] == ["VN"]),
    ("/countries/vnm", _is_vietnam),
    ("/countries/704", _is_vietnam),
    ("/countries/VN/subdivisions", lambda body: len(body) == 63),
    ("/health", lambda body: body["status"] == "ok"),
    ("/currencies", lambda body: len(body) == 178),
    ("/currencies/vnd", lambda body: body["code"] == "VND"),
    ("/vn/provinces", lambda body: len(body) == 34),
    ("/vn/provinces?q=ho%20chi%20minh", lambda body: [p["name"] for p in body] == [HCMC]),
    ("/vn/provinces/79", lambda body: body["name"] == HCMC),
    ("/vn/provinces/79/wards", lambda body: {w["province_code"] for w in body} == {79}),
    ("/vn/provinces/79/wards?q=sai%20gon", lambda body: [w["code"] for w in body] == [26740]),
    ("/vn/wards/26740", lambda body: body["name"] == "Phường Sài Gòn"),
    ("/settings", lambda body: len(body) == 8),
    ("/settings/max_order_total_vnd", lambda body: body["value"] == 50_000_000),
    ("/health", lambda body: body["status"] == "ok"),
    ("/countries/VN", _is_vietnam),
    ("/vn/provinces?q=ho%20chi%20minh", lambda body: [p["code"] for p in body] == [79]),
    ("/currencies", lambda body: len(body) == 178),
    ("/health", lambda body: body["status"] == "ok"),
]
# Then every route of every dataset, with each form of key and a search: a non-empty answer.
TRAFFIC = CHECKED + [(path, bool) for path in SAMPLE_PATHS]


@dataclass
class Function:
    """One execution environment: the awslambdaric process and what it was asked."""

    runtime: RuntimeEmulator
    process: RuntimeProcess
    invokes: int = 0  # HTTP requests that reached the app (each logs one "request" line)
    replies: list[tuple[str, Reply]] = field(default_factory=list)
    round_trips_ms: list[float] = field(default_factory=list)
    # PostgreSQL's own counts for the app's role (None on SQLite): INIT and the cold invoke,
    # then every warm invoke of TRAFFIC.
    cold_server_statements: int | None = None
    warm_server_statements: int | None = None

    def get(self, path: str) -> Reply:
        started = time.perf_counter()
        answer = reply(self.runtime.invoke(http_v2("GET", path), INVOKE_TIMEOUT))
        self.round_trips_ms.append((time.perf_counter() - started) * 1000)
        self.invokes += 1
        return answer

    def log(self, message: str) -> list[dict[str, Any]]:
        """The app's JSON log lines with this message, once every request has been logged."""
        needle = '"message":"request"'
        self.process.wait_for_output(
            lambda lines: sum(needle in line for line in lines) >= self.invokes, timeout=10
        )
        return [entry for entry in self.process.json_lines() if entry.get("message") == message]


def require_awslambdaric() -> None:
    # A dev dependency: without it this module fails, it is not skipped.
    if importlib.util.find_spec("awslambdaric") is None:
        pytest.fail(
            "awslambdaric is not installed: it is a dev dependency (pip install -e '.[dev]'),"
            " needed to run the handler under AWS's runtime interface client"
        )


@pytest.fixture(scope="module")
def function(database: Database) -> Iterator[Function]:
    require_awslambdaric()
    runtime = RuntimeEmulator()
    runtime.start()
    try:
        counter = ServerStatements(database.admin_url, APP_ROLE) if database.admin_url else None
        if counter is not None:
            counter.reset()
        env = {"REFDATA_DATABASE_URL": database.url, "REFDATA_LOG_LEVEL": "INFO"}
        process = runtime.spawn(env=env)
        runtime.wait_ready(INIT_TIMEOUT)
        function = Function(runtime, process)
        for index, (path, _) in enumerate(TRAFFIC):
            if index == 1 and counter is not None:
                function.cold_server_statements = counter.count()
                counter.reset()
            function.replies.append((path, function.get(path)))
        if counter is not None:
            function.warm_server_statements = counter.count()
        yield function
    finally:
        runtime.stop()


def test_reference_routes_answer_through_the_runtime_client(function: Function) -> None:
    assert [path for path, _ in function.replies] == [path for path, _ in TRAFFIC]
    for path, answer in function.replies:
        assert answer.status == 200, (path, answer.body)
        assert answer.headers["content-type"] == "application/json", path
    for (path, answer), (_, is_right) in zip(function.replies, TRAFFIC, strict=True):
        assert is_right(answer.json()), (path, answer.body)


def test_the_environment_initialises_once(function: Function) -> None:
    assert function.process.poll() is None  # the same process served every invoke
    (init,) = function.log("init complete")
    assert init["pid"] == function.process.pid
    # /health counts the requests its process served: one more per invoke, none lost.
    for position, (path, answer) in enumerate(function.replies, start=1):
        if path == "/health":
            assert answer.json()["invocations"] == position
    before = function.get("/health").json()["invocations"]
    assert function.get("/health").json()["invocations"] == before + 1
    assert len(function.log("init complete")) == 1


def test_only_the_first_invoke_is_cold_and_warm_invokes_run_no_sql(function: Function) -> None:
    requests = function.log("request")
    assert len(requests) == function.invokes
    assert [r["cold_start"] for r in requests] == [True] + [False] * (len(requests) - 1)
    warm = requests[1:]
    assert [r["sql_statements"] for r in warm] == [0] * len(warm), warm
    if function.warm_server_statements is not None:
        assert function.cold_server_statements  # the counter does see this process's INIT
        assert function.warm_server_statements == 0  # as PostgreSQL itself counts them


def test_init_duration_is_reported(
    function: Function,
    record_property: Callable[[str, object], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    (init,) = function.log("init complete")
    assert isinstance(init["init_ms"], int | float)
    assert init["cache_loaded"] is True
    warm_median = statistics.median(function.round_trips_ms[1:])
    record_property("init_ms", init["init_ms"])
    record_property("spawn_to_first_poll_ms", round(function.process.init_ms or 0, 1))
    record_property("warm_invoke_median_ms", round(warm_median, 3))
    with capsys.disabled():
        print(
            f"\n  awslambdaric: init_ms={init['init_ms']} (app),"
            f" {function.process.init_ms:.0f} ms from spawn to first /next;"
            f" warm invoke round trip median {warm_median:.2f} ms"
            f" over {len(function.round_trips_ms) - 1} invokes"
        )


def test_a_malformed_code_is_a_422_problem_through_the_runtime(function: Function) -> None:
    answer = function.get("/countries/12345")
    assert answer.status == 422
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"] == "urn:refdata:problem:validation-error"
    assert problem["errors"][0]["loc"] == ["path", "code"]


def test_a_non_http_event_gets_the_documented_400_and_the_process_lives_on(
    function: Function,
) -> None:
    # Not an HTTP event: Mangum cannot read it; the handler answers a problem, not an error.
    answer = reply(function.runtime.invoke({"not": "an http event"}, INVOKE_TIMEOUT))
    assert answer.status == 400
    assert answer.json()["type"] == "urn:refdata:problem:bad-event"
    assert function.get("/countries/VN").status == 200
    assert function.process.poll() is None


def test_snapstart_hooks_run_under_the_runtime_client(database: Database) -> None:
    require_awslambdaric()
    with RuntimeEmulator(initialization_type="snap-start") as runtime:
        env = {"REFDATA_DATABASE_URL": database.url, "REFDATA_LOG_LEVEL": "INFO"}
        process = runtime.spawn(env=env)
        runtime.wait_ready(INIT_TIMEOUT)
        health = reply(runtime.invoke(http_v2("GET", "/health"), INVOKE_TIMEOUT)).json()
    messages = [entry.get("message") for entry in process.json_lines()]
    before = messages.index("snapstart: pool disposed before snapshot")
    assert before < messages.index("snapstart: restored") < messages.index("request")
    assert health["status"] == "ok"
    assert health["cold_start"] is False  # a restored environment is not a cold start
