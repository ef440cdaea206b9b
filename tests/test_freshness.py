"""Freshness: TTL + version check, single-flight, stale-if-error, and two environments.

The cache-level tests drive a ReferenceCache with a hand-moved clock against a real
database of the session's backend. The process-level tests run real execution environments
(awslambdaric processes, uvicorn) against their own database, and on PostgreSQL stop and
restart a real server.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from app.datasets import DATASETS
from app.snapshot.cache import CacheUnavailable, Freshness, Outcome, ReferenceCache
from harness import ADMIN_KEY
from harness.databases import Database, migrate
from harness.postgres import throwaway_server
from harness.servers import LambdaEnvironment, Uvicorn
from harness.sql import SqlWindow, app_connections


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def own_database(blank_database: Database) -> Iterator[tuple[Database, Engine]]:
    """A migrated database no other test reads, and an engine on it."""
    migrate(blank_database.url)
    engine = create_engine(blank_database.url, pool_size=1, max_overflow=0, pool_pre_ping=True)
    yield blank_database, engine
    engine.dispose()


def bump_version(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE reference_version SET version = version + 1 WHERE id = 1"))


class TestTtlAndVersionCheck:
    def test_within_the_ttl_a_read_runs_no_sql(self, own_database: tuple[Database, Engine]) -> None:
        _, engine = own_database
        clock = Clock()
        cache = ReferenceCache(engine, Freshness(ttl_seconds=300), clock)
        cache.load()
        clock.now += 299
        with SqlWindow(engine) as sql:
            cache.snapshot()
        assert sql.statements == []
        assert sql.checkouts == 0

    def test_past_the_ttl_an_unchanged_version_costs_one_select(
        self, own_database: tuple[Database, Engine]
    ) -> None:
        _, engine = own_database
        clock = Clock()
        cache = ReferenceCache(engine, Freshness(ttl_seconds=300), clock)
        first = cache.load()
        clock.now += 300
        with SqlWindow(engine) as sql:
            assert cache.snapshot() is first  # same snapshot: nothing was reloaded
            assert len(sql.statements) == 1
            assert "reference_version" in sql.statements[0]
            sql.reset()
            clock.now += 299  # the clock restarted at the revalidation
            cache.snapshot()
            assert sql.statements == []
        assert cache.counters["revalidations"] == 1
        assert cache.counters["reloads"] == 0

    def test_a_changed_version_reloads_everything(
        self, own_database: tuple[Database, Engine]
    ) -> None:
        _, engine = own_database
        clock = Clock()
        cache = ReferenceCache(engine, Freshness(ttl_seconds=60), clock)
        first = cache.load()
        bump_version(engine)
        clock.now += 30
        assert cache.snapshot() is first  # within the TTL the change is not seen yet
        clock.now += 30
        with SqlWindow(engine) as sql:
            second = cache.snapshot()
        assert second.version == first.version + 1
        selects = [s for s in sql.statements if s.lstrip().upper().startswith("SELECT")]
        assert len(selects) == 1 + 1 + len(DATASETS)  # the version check, then the full reload
        assert cache.counters["reloads"] == 1

    def test_ttl_zero_never_revalidates(self, own_database: tuple[Database, Engine]) -> None:
        _, engine = own_database
        clock = Clock()
        cache = ReferenceCache(engine, Freshness(ttl_seconds=0), clock)
        cache.load()
        clock.now += 10**7
        with SqlWindow(engine) as sql:
            cache.snapshot()
        assert sql.statements == []


class TestStaleIfError:
    @staticmethod
    def hide_version_table(engine: Engine, hide: bool) -> None:
        names = ("reference_version", "reference_version_hidden")
        old, new = names if hide else names[::-1]
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))

    def test_a_failed_revalidation_serves_the_last_good_snapshot_then_503(
        self, own_database: tuple[Database, Engine]
    ) -> None:
        _, broken = own_database
        clock = Clock()
        policy = Freshness(ttl_seconds=60, max_stale_seconds=600, retry_seconds=2)
        cache = ReferenceCache(broken, policy, clock)
        good = cache.load()
        self.hide_version_table(broken, hide=True)
        clock.now += 60
        assert cache.refresh() is Outcome.STALE
        assert cache.snapshot() is good  # stale-if-error
        assert cache.stale_seconds() == 0
        assert cache.last_error is not None
        assert "reference_version" not in cache.last_error  # no SQL text leaks out

        # Backing off: no attempt for 2 s, then 4 s, ... each failure doubles the wait.
        with SqlWindow(broken) as sql:
            clock.now += 1
            assert cache.snapshot() is good
            assert sql.statements == []
            clock.now += 1.5
            assert cache.snapshot() is good  # attempt 2 (fails)
            assert len(sql.statements) == 1
            clock.now += 3
            assert cache.snapshot() is good
            assert len(sql.statements) == 1  # still backing off (4 s)
        assert cache.counters["failures"] == 2
        assert cache.counters["stale"] >= 3

        clock.now += 600  # past max-stale: no more stale data
        with pytest.raises(CacheUnavailable) as unavailable:
            cache.snapshot()
        assert unavailable.value.retry_after >= 1

        self.hide_version_table(broken, hide=False)
        clock.now += 60  # past any back-off
        assert cache.snapshot() is good  # recovered: revalidated, same version
        assert cache.stale_seconds() is None
        assert cache.last_error is None


@pytest.fixture
def start_environment() -> Iterator[Any]:
    started: list[LambdaEnvironment] = []

    def start(env: dict[str, str]) -> LambdaEnvironment:
        environment = LambdaEnvironment.start(env)
        started.append(environment)
        return environment

    yield start
    for environment in started:
        environment.stop()


def test_two_environments_converge_through_the_version_row(
    own_database: tuple[Database, Engine], start_environment: Any
) -> None:
    """An admin change made through one environment reaches the other after its TTL; before
    that, the other serves its snapshot with no SQL at all."""
    database, _ = own_database
    env = {
        "REFDATA_DATABASE_URL": database.url,
        "REFDATA_CACHE_TTL_SECONDS": "3",
        "REFDATA_ADMIN_API_KEY": ADMIN_KEY,
    }
    a, b = start_environment(env), start_environment(env)
    path = "/settings/max_order_total_vnd"
    assert a.get(path).json()["value"] == 50_000_000
    assert b.get(path).json()["value"] == 50_000_000

    changed = a.put("/admin/settings/max_order_total_vnd", {"value": 60_000_000})
    assert changed.status == 200, changed.body
    assert changed.json()["reference_version"] == 2
    assert a.get(path).json()["value"] == 60_000_000  # read-your-writes in A
    assert a.last_request(3)["cache_outcome"] == Outcome.RELOADED

    assert b.get(path).json()["value"] == 50_000_000  # B is within its TTL
    assert b.last_request(2)["sql_statements"] == 0
    assert b.last_request(2)["cache_outcome"] == Outcome.HIT
    time.sleep(3.2)
    assert b.get(path).json()["value"] == 60_000_000  # B revalidated and reloaded
    after = b.last_request(3)
    assert after["cache_outcome"] == Outcome.RELOADED
    assert after["sql_statements"] >= 1 + 1 + len(DATASETS)  # the version twice, each table
    assert b.get(path).json()["value"] == 60_000_000
    assert b.last_request(4)["sql_statements"] == 0
    # The reload was published as CloudWatch metrics (EMF) on B's log stream.
    emf = [e for e in b.process.json_lines() if "_aws" in e]
    assert any("CacheReloads" in e for e in emf)
    assert any("ColdStarts" in e for e in emf)


@pytest.mark.usefixtures("postgresql_only")
def test_stale_if_error_with_the_server_stopped_and_restarted(start_environment: Any) -> None:
    with throwaway_server() as server:
        url = server.url("postgres")
        migrate(url)
        env = start_environment(
            {
                "REFDATA_DATABASE_URL": url,
                "REFDATA_CACHE_TTL_SECONDS": "1",
                "REFDATA_CACHE_MAX_STALE_SECONDS": "6",
                "REFDATA_CACHE_RETRY_SECONDS": "1",
                "REFDATA_DB_CONNECT_TIMEOUT_SECONDS": "1",
            }
        )
        assert env.get("/countries/VN").status == 200
        server.stop()
        time.sleep(1.2)
        stale = env.get("/countries/VN")
        assert stale.status == 200
        assert stale.json()["alpha_2"] == "VN"
        assert stale.headers["warning"] == '111 - "Revalidation Failed"'
        assert int(stale.headers["x-refdata-stale-seconds"]) >= 0
        health = env.get("/health").json()
        assert health["status"] == "stale"
        assert health["error"].startswith("OperationalError")

        server.start()
        time.sleep(2.5)  # past the back-off
        fresh = env.get("/countries/VN")
        assert fresh.status == 200
        assert "warning" not in fresh.headers
        assert env.get("/health").json()["status"] == "ok"
        # No leak: the connection the stop cut was replaced, not added to.
        assert len(app_connections(url, env.pid)) <= 1  # pool_size + max_overflow: 1 + 0

        server.stop()
        time.sleep(1.2)
        # Served stale until max-stale (6 s) has passed, then 503: polled, a bounded number
        # of times (the time it took is printed, not asserted).
        first_stale = time.monotonic()
        for _ in range(60):
            if env.get("/countries/VN").status != 200:
                break
            time.sleep(0.5)
        else:
            pytest.fail("still served stale after 60 polls, 30 s, well past max-stale")
        served_stale_for = time.monotonic() - first_stale
        gone = env.get("/countries/VN")
        assert gone.status == 503
        assert gone.headers["content-type"] == "application/problem+json"
        assert int(gone.headers["retry-after"]) >= 1
        print(f"\n  stale snapshot served for {served_stale_for:.1f} s (max stale 6 s past TTL)")


def test_single_flight_under_uvicorn(own_database: tuple[Database, Engine], tmp_path: Any) -> None:
    """40 concurrent requests arriving after the TTL: exactly one revalidation runs."""
    database, _ = own_database
    env = {
        "REFDATA_DATABASE_URL": database.url,
        "REFDATA_CACHE_TTL_SECONDS": "2",
        "REFDATA_LOG_LEVEL": "WARNING",
    }
    with Uvicorn(env, tmp_path / "uvicorn.log") as uvicorn:
        base = f"http://127.0.0.1:{uvicorn.port}"
        assert health(base)["counters"]["revalidations"] == 0
        time.sleep(2.2)
        barrier = threading.Barrier(40)
        statuses: list[int] = []

        def client() -> None:
            barrier.wait()
            with urllib.request.urlopen(f"{base}/countries/VN", timeout=10) as response:  # noqa: S310
                statuses.append(response.status)

        threads = [threading.Thread(target=client) for _ in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert statuses == [200] * 40
        counters = health(base)["counters"]
        assert counters["revalidations"] == 1
        assert counters["reloads"] == 0


def health(base: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base}/health", timeout=10) as response:  # noqa: S310
        body: dict[str, Any] = json.loads(response.read())
        return body
