"""Issue 21, sent again: the short version of `python -m reliability.hostile`.

Each of the issue's twelve findings, against `python -m app` with the Docker image's settings
and the Lambda handler in a process of its own, on a database of its own, with small counts:
50 order clients and 4 orders over capacity, 8 of the largest conversion batches, the 1 MB
body of unknown keys twice and 8 times at once, 3 batches of each kind of name, every route's
worst case invoked twice. The long version (`make reliability`) sends the issue's own numbers.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.databases import migrate
from harness.images import image_settings
from harness.worst import BUDGET
from reliability import hostile
from tests.conftest import Backend

PLAN = hostile.Plan(
    clients=50,
    rounds=1,
    over_capacity=4,
    batches=2,
    repeats=2,
    memory_batches=3,
    invokes=1,
    idle_seconds=0.2,
)


@pytest.fixture(scope="module")
def summary(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    database = backend.new_database()
    migrate(database.url)
    return hostile.run(database, PLAN, tmp_path_factory.mktemp("hostile"))


def finding(summary: dict[str, Any], number: str) -> list[dict[str, Any]]:
    return [run for run in summary["runs"] if run["finding"] == number]


def test_each_of_the_twelve_findings_is_sent_again(summary: dict[str, Any]) -> None:
    numbers = [run["finding"] for run in summary["runs"]]
    assert numbers == ["1", *map(str, range(1, 13))]


def test_over_capacity_all_but_the_one_with_the_lane_are_told_busy(
    summary: dict[str, Any],
) -> None:
    load, over = finding(summary, "1")
    assert set(load["observed"]["statuses"]) == {"200", "201"}
    assert over["observed"]["statuses"] == {"503": PLAN.over_capacity - 1, "201": 1}


def test_every_worst_answer_fits_lambdas_limit_and_the_worst_422_is_small(
    summary: dict[str, Any],
) -> None:
    (worst,) = finding(summary, "5")
    (rows,) = (table["rows"] for table in worst["tables"])
    columns = worst["tables"][0]["columns"]
    marshalled = columns.index("marshalled B")
    assert max(row[marshalled] for row in rows) <= BUDGET
    assert worst["checks"]["the worst 422: at most 4,096 B, 20 errors listed, all counted"]


@pytest.mark.usefixtures("postgresql_only")
def test_the_order_clients_held_no_more_connections_than_the_images_pool(
    summary: dict[str, Any],
) -> None:
    held = finding(summary, "1")[0]["observed"]["largest_connections_held"]
    assert 0 < held <= int(image_settings()["REFDATA_DB_POOL_SIZE"])


def test_every_check_of_the_long_version_holds_but_its_timings(summary: dict[str, Any]) -> None:
    # The timed checks (a measured time against its bound) are `make reliability`'s: this
    # machine is shared, and a test asserts counts, never durations.
    failed = [
        f"{run['scenario']}: {name}"
        for run in summary["runs"]
        for name in run["untimed_checks"]
        if not run["checks"][name]
    ]
    assert failed == [], json.dumps(failed, indent=2, ensure_ascii=False)
