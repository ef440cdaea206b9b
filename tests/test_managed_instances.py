"""Lambda Managed Instances (LMI): one execution environment, N worker processes.

awslambdaric's own multi-concurrent mode (AWS_LAMBDA_MAX_CONCURRENCY) forks N workers; each
INITs once (its own snapshot, its own one-connection pool) and polls the Runtime API on its
own (harness/lambda_runtime.py, `RuntimeEmulator(max_concurrency=N)`). One environment serves
the module, against a database of its own: concurrent invokes spread over every worker, no
request is a cold start, warm invokes run no SQL, the server sees N connections, and an admin
change reaches every worker once its TTL has passed. The cold-start rule itself is tested in
fresh interpreters (it is read at import).
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from sqlalchemy import make_url

from harness import ADMIN_KEY
from harness.databases import APP_ROLE, Database, migrate
from harness.events import http_v2
from harness.http import Reply, reply
from harness.lambda_runtime import RuntimeEmulator, RuntimeProcess, Worker, rss_kib
from harness.postgres import libpq_dsn
from harness.processes import run_python
from harness.sql import ServerStatements, local_ports
from tests.conftest import Backend

WORKERS = 4  # AWS_LAMBDA_MAX_CONCURRENCY
POOL_SIZE, MAX_OVERFLOW = 1, 0  # per worker: REFDATA_DB_POOL_SIZE, REFDATA_DB_MAX_OVERFLOW
# Long enough for INIT's snapshots to stay fresh through the warm phase and the reads right
# after the admin change; the admin test then waits it out.
TTL_SECONDS = 8
THREADS, ROUNDS = 8, 6  # concurrent clients, invokes each
INIT_TIMEOUT = 90.0  # seconds; bounds, not expectations
INVOKE_TIMEOUT = 15.0
SETTING = "max_order_total_vnd"
REQUEST = '"message":"request"'

# What the concurrent clients ask, and how each answer is checked.
TRAFFIC: list[tuple[str, Callable[[Any], bool]]] = [
    ("/countries/VN", lambda body: body["alpha_3"] == "VNM"),
    ("/health", lambda body: body["status"] == "ok" and body["cold_start"] is False),
    ("/currencies/vnd", lambda body: body["code"] == "VND"),
    ("/vn/provinces/79/wards?q=sai%20gon", lambda body: [w["code"] for w in body] == [26740]),
    ("/settings", lambda body: len(body) == 8),
    ("/countries?q=viet", lambda body: [c["alpha_2"] for c in body] == ["VN"]),
]


@dataclass
class Environment:
    """The LMI environment under test, and what the module's traffic saw."""

    database: Database
    runtime: RuntimeEmulator
    process: RuntimeProcess
    pids: list[int]  # the workers, as running when all N polled at once
    first: dict[int, Reply] = field(default_factory=dict)  # each worker's first reply
    concurrent: list[tuple[int | None, str, Reply]] = field(default_factory=list)
    # PostgreSQL's counts for the app role (None on SQLite): INIT of all N workers, each
    # worker's first request, then the concurrent (warm) phase.
    init_statements: int | None = None
    first_statements: int | None = None
    warm_statements: int | None = None
    connections: list[int] | None = None  # client ports of the app's server connections

    def worker(self, pid: int) -> Worker:
        return self.process.workers[pid]

    def invoke(self, method: str, path: str, pid: int, body: dict[str, Any] | None = None) -> Reply:
        """One invoke, on the worker with PID `pid` (the emulator hands it to that one)."""
        headers = {"authorization": f"Bearer {ADMIN_KEY}", "content-type": "application/json"}
        event = (
            http_v2(method, path)
            if body is None
            else http_v2(method, path, headers, json.dumps(body).encode())
        )
        served = self.runtime.invoke_served(event, INVOKE_TIMEOUT, worker=pid)
        assert served.worker == pid
        return reply(served.document)

    def requests(self, pid: int) -> list[dict[str, Any]]:
        """Worker `pid`'s request log lines, once every invoke it fetched has logged one."""
        worker = self.worker(pid)
        worker.wait_for_output(lambda lines: sum(REQUEST in x for x in lines) >= worker.served, 10)
        return [e for e in worker.json_lines() if e.get("message") == "request"]

    def inits(self) -> list[dict[str, Any]]:
        return [e for e in self.process.json_lines() if e.get("message") == "init complete"]


def app_connections(database: Database) -> list[int]:
    """Client ports of the app role's connections to `database`, as the server lists them."""
    assert database.admin_url is not None
    with psycopg.connect(libpq_dsn(database.admin_url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT client_port FROM pg_stat_activity WHERE datname = %s AND usename = %s"
            " AND application_name = 'refdata' AND backend_type = 'client backend'",
            (make_url(database.url).database, APP_ROLE),
        ).fetchall()
    return sorted(row[0] for row in rows)


@pytest.fixture(scope="module")
def lmi(backend: Backend) -> Iterator[Environment]:
    if importlib.util.find_spec("awslambdaric") is None:  # a dev dependency: fail, not skip
        pytest.fail("awslambdaric is not installed: pip install -e '.[dev]'")
    database = backend.new_database()  # the admin test writes: no other test reads it
    migrate(database.url)
    counter = ServerStatements(database.admin_url, APP_ROLE) if database.admin_url else None
    runtime = RuntimeEmulator(max_concurrency=WORKERS).start()
    try:
        if counter is not None:
            counter.reset()
        process = runtime.spawn(
            env={
                "REFDATA_DATABASE_URL": database.url,
                "REFDATA_LOG_LEVEL": "INFO",
                "REFDATA_CACHE_TTL_SECONDS": str(TTL_SECONDS),
                "REFDATA_ADMIN_API_KEY": ADMIN_KEY,
                "REFDATA_DB_POOL_SIZE": str(POOL_SIZE),
                "REFDATA_DB_MAX_OVERFLOW": str(MAX_OVERFLOW),
            }
        )
        runtime.wait_ready(INIT_TIMEOUT)  # all N workers block in /invocation/next at once
        env = Environment(database, runtime, process, process.children())
        if counter is not None:
            env.init_statements = counter.count()
            counter.reset()
        for pid in env.pids:
            env.first[pid] = env.invoke("GET", "/health", pid)
        if counter is not None:
            env.first_statements = counter.count()
            counter.reset()

        # Every worker busy at once: THREADS clients, released together, none addressed.
        barrier = threading.Barrier(THREADS)
        lock = threading.Lock()
        errors: list[BaseException] = []

        def client(offset: int) -> None:
            try:
                barrier.wait(10)
                for index in range(ROUNDS):
                    path, _ = TRAFFIC[(offset + index) % len(TRAFFIC)]
                    served = runtime.invoke_served(http_v2("GET", path), INVOKE_TIMEOUT)
                    with lock:
                        env.concurrent.append((served.worker, path, reply(served.document)))
            except BaseException as error:  # reported below, not lost in the thread
                errors.append(error)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        if counter is not None:
            env.warm_statements = counter.count()
            env.connections = app_connections(database)
        yield env
    finally:
        runtime.stop()


def test_every_worker_initialises_once_in_a_process_of_its_own(lmi: Environment) -> None:
    assert len(lmi.pids) == WORKERS
    assert lmi.process.poll() is None
    inits = lmi.inits()
    assert len(inits) == WORKERS, inits
    assert sorted(init["pid"] for init in inits) == lmi.pids  # N distinct processes
    for init in inits:
        assert init["managed_instances"] is True
        assert init["cache_loaded"] is True
    # Each worker's own output (its telemetry socket) holds its one INIT, under its PID.
    assert sorted(lmi.process.workers) == lmi.pids
    for pid in lmi.pids:
        (own,) = [e for e in lmi.worker(pid).json_lines() if e.get("message") == "init complete"]
        assert own["pid"] == pid


def test_no_request_is_a_cold_start(lmi: Environment) -> None:
    for pid, first in lmi.first.items():
        health = first.json()
        assert health["invocations"] == 1, pid  # this worker's first request
        assert health["cold_start"] is False, pid
    for pid in lmi.pids:
        assert [r["cold_start"] for r in lmi.requests(pid)] == [False] * lmi.worker(pid).served


def test_concurrent_invokes_run_on_every_worker(lmi: Environment) -> None:
    assert len(lmi.concurrent) == THREADS * ROUNDS
    checks = dict(TRAFFIC)
    for pid, path, answer in lmi.concurrent:
        assert answer.status == 200, (pid, path, answer.body)
        assert checks[path](answer.json()), (pid, path, answer.body)
    served = Counter(pid for pid, _, _ in lmi.concurrent)
    assert None not in served  # every connection was traced to its worker
    assert sorted(pid for pid in served if pid) == lmi.pids, served  # none addressed, all N
    assert lmi.runtime.peak_in_flight >= 2  # workers were busy at the same time
    # Each worker counted exactly the invokes the emulator handed it (its /health counter
    # is per process): the attribution by PID is right.
    for pid in lmi.pids:
        assert lmi.worker(pid).served == 1 + served[pid]
        assert lmi.invoke("GET", "/health", pid).json()["invocations"] == 2 + served[pid]


def test_warm_invokes_run_no_sql(lmi: Environment) -> None:
    for pid in lmi.pids:
        requests = lmi.requests(pid)
        assert len(requests) == lmi.worker(pid).served
        assert len(requests) >= 2  # its first request and at least one warm one
        warm = requests[1:]
        assert [r["sql_statements"] for r in warm] == [0] * len(warm), (pid, warm)
        assert {r["cache_outcome"] for r in warm} == {"hit"}, (pid, warm)


@pytest.mark.usefixtures("postgresql_only")
def test_postgresql_counts_no_statements_from_warm_workers(lmi: Environment) -> None:
    assert lmi.init_statements  # the counter does see the workers' INIT
    assert lmi.warm_statements == 0  # as PostgreSQL itself counts them, all N workers


@pytest.mark.usefixtures("postgresql_only")
def test_the_server_holds_one_pool_per_worker(lmi: Environment) -> None:
    assert lmi.connections is not None
    assert len(lmi.connections) == WORKERS * (POOL_SIZE + MAX_OVERFLOW)
    # ... and they are the workers': each holds exactly POOL_SIZE of them.
    held = {pid: sorted(local_ports(pid) & set(lmi.connections)) for pid in lmi.pids}
    assert all(len(ports) == POOL_SIZE + MAX_OVERFLOW for ports in held.values()), held
    assert app_connections(lmi.database) == lmi.connections  # no more after more traffic


def test_worker_memory_and_connections_are_reported(
    lmi: Environment,
    record_property: Callable[[str, object], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    rss = {pid: rss_kib(pid) for pid in lmi.pids}
    assert all(isinstance(kib, int) and kib > 0 for kib in rss.values()), rss
    main = lmi.process.rss_kib()
    record_property("workers", WORKERS)
    record_property("worker_rss_kib", ",".join(str(kib) for kib in rss.values()))
    record_property("main_process_rss_kib", main)
    record_property("server_connections", len(lmi.connections or []))
    record_property("peak_in_flight", lmi.runtime.peak_in_flight)
    spread = Counter(pid for pid, _, _ in lmi.concurrent)
    connections = "n/a (SQLite)" if lmi.connections is None else len(lmi.connections)
    with capsys.disabled():
        print(
            f"\n  LMI, {WORKERS} workers: RSS {', '.join(f'{kib} KiB' for kib in rss.values())}"
            f" (awslambdaric main process {main} KiB); server connections {connections};"
            f" {len(lmi.concurrent)} concurrent invokes, per worker"
            f" {[spread[pid] for pid in lmi.pids]}, at most {lmi.runtime.peak_in_flight} at once;"
            f" all {WORKERS} polling {lmi.process.init_ms:.0f} ms after spawn"
        )


def test_an_admin_change_reaches_every_worker_after_the_ttl(lmi: Environment) -> None:
    path = f"/settings/{SETTING}"
    writer, *others = lmi.pids
    old = lmi.invoke("GET", path, writer).json()["value"]
    new = old + 10_000_000
    changed = lmi.invoke("PUT", f"/admin/settings/{SETTING}", writer, {"value": new})
    assert changed.status == 200, changed.body
    version = changed.json()["reference_version"]
    assert lmi.invoke("GET", path, writer).json()["value"] == new  # read-your-writes

    # Within their TTL the other workers serve their own snapshot, with no SQL.
    for pid in others:
        assert lmi.invoke("GET", path, pid).json()["value"] == old, (pid, lmi.requests(pid)[-1])
        last = lmi.requests(pid)[-1]
        assert (last["sql_statements"], last["cache_outcome"]) == (0, "hit"), (pid, last)
        assert last["cache_version"] == version - 1

    # Past it, each revalidates, sees the new version and reloads: ask each one until all
    # N have answered the new value (bounded; a TTL that never ends fails here).
    pending, switched = set(lmi.pids), {}
    deadline = time.monotonic() + TTL_SECONDS + 30
    while pending and time.monotonic() < deadline:
        for pid in sorted(pending):
            if lmi.invoke("GET", path, pid).json()["value"] == new:
                pending.discard(pid)
                switched[pid] = lmi.requests(pid)[-1]
        if pending:
            time.sleep(0.25)
    assert not pending, f"workers {sorted(pending)} still serve {old} after {TTL_SECONDS + 30} s"
    for pid in others:
        assert switched[pid]["cache_outcome"] == "reloaded", (pid, switched[pid])
        assert switched[pid]["sql_statements"] > 0
        assert switched[pid]["cache_version"] == version
    # Warm again on the new snapshot. (Not checked on the writer: it reloaded at the change,
    # so its own TTL may end while the others are waited for, and then it revalidates.)
    for pid in others:
        assert lmi.invoke("GET", path, pid).json()["value"] == new
        last = lmi.requests(pid)[-1]
        assert (last["sql_statements"], last["cache_version"]) == (0, version), (pid, last)


def test_no_worker_initialised_again(lmi: Environment) -> None:
    """Through the whole module: still the same N workers, each INITed once."""
    assert lmi.process.poll() is None
    assert lmi.process.children() == lmi.pids
    assert sorted(init["pid"] for init in lmi.inits()) == lmi.pids
    for pid in lmi.pids:  # per-process counters: a restarted worker would count from 1
        assert lmi.invoke("GET", "/health", pid).json()["invocations"] == lmi.worker(pid).served


COLD_START_RULE = """
import json, os
for name in ("AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_MAX_CONCURRENCY"):
    os.environ.pop(name, None)
os.environ.update(json.loads({variables!r}))
from app.kit.runtime import MANAGED_INSTANCES, Environment
cold = []
for _ in range(3):
    Environment.invocations += 1  # as app.kit.edge.Edge does for every request
    cold.append(Environment.is_cold_start())
print(json.dumps({{"cold": cold, "managed_instances": MANAGED_INSTANCES}}))
"""


@pytest.mark.parametrize(
    ("variables", "cold", "managed"),
    [
        ({}, [True, False, False], False),
        ({"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}, [True, False, False], False),
        ({"AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency"}, [False] * 3, False),
        (
            {
                "AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances",
                "AWS_LAMBDA_MAX_CONCURRENCY": "4",
            },
            [False] * 3,
            True,
        ),
        ({"AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances"}, [False] * 3, True),
        ({"AWS_LAMBDA_MAX_CONCURRENCY": "4"}, [False] * 3, True),
        # awslambdaric forks workers on AWS_LAMBDA_MAX_CONCURRENCY alone, whatever the type.
        (
            {"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand", "AWS_LAMBDA_MAX_CONCURRENCY": "4"},
            [False] * 3,
            True,
        ),
    ],
    ids=[
        "unset",
        "on-demand",
        "provisioned",
        "lmi",
        "lmi-type-only",
        "max-concurrency-only",
        "on-demand-with-max-concurrency",
    ],
)
def test_the_cold_start_rule(variables: dict[str, str], cold: list[bool], managed: bool) -> None:
    result = run_python(COLD_START_RULE.format(variables=json.dumps(variables)), {})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "cold": cold,
        "managed_instances": managed,
    }
