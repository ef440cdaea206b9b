"""The Lambda handler of two source trees, timed against each other on one SQLite database.

    git worktree add /tmp/old <commit>
    .venv/bin/python -m bench.handler_ab /tmp/old . --path /countries
    .venv/bin/python -m bench.handler_ab /tmp/old . --path /orders --method POST

Each tree's `app` runs in a fresh interpreter (its own INIT), one tree after the other,
`--turns` times: 2,000 warm-up invokes, then the best of 5 medians of 3,000 timed invokes
of an HTTP API (2.0) request: a GET, or a POST of the sample order (with the orders key;
POST /orders places a new order each time). For the cost of a change to the warm path,
where `make bench`'s ratios to the floor move with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import ORDERS_KEY, REPO
from harness.databases import migrate

PROBE = """
import json, statistics, sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from harness.events import ORDER, LambdaContext, http_v2
from app.lambda_handler import handler
method, path, key = sys.argv[3], sys.argv[4], sys.argv[5]
headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
event = http_v2(method, path, headers, ORDER if method == "POST" else None)
context = LambdaContext()
for _ in range(2000):
    handler(event, context)
medians = []
for _ in range(5):
    timings = []
    for _ in range(3000):
        started = time.perf_counter_ns()
        handler(event, context)
        timings.append(time.perf_counter_ns() - started)
    medians.append(statistics.median(timings) / 1000)
print(json.dumps(min(medians)))
"""


def best_median_us(tree: Path, method: str, path: str, database_url: str) -> float:
    env = {
        **os.environ,
        "REFDATA_DATABASE_URL": database_url,
        "REFDATA_LOG_LEVEL": "INFO",
        "REFDATA_ORDERS_API_KEY": ORDERS_KEY,  # a tree from before the key ignores it
    }
    result = subprocess.run(  # noqa: S603 -- our interpreter, our arguments
        [sys.executable, "-c", PROBE, str(tree), str(REPO), method, path, ORDERS_KEY],
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # the request log lines
        text=True,
        timeout=600,
        check=True,
    )
    return float(json.loads(result.stdout.splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("trees", nargs=2, type=Path, help="two source trees, e.g. old and new")
    parser.add_argument("--path", default="/countries")
    parser.add_argument("--method", choices=("GET", "POST"), default="GET")
    parser.add_argument("--turns", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="refdata-ab-") as tmp:
        database_url = f"sqlite:///{tmp}/refdata.db"
        migrate(database_url)
        for turn in range(1, args.turns + 1):
            for tree in args.trees:
                us = best_median_us(tree.resolve(), args.method, args.path, database_url)
                print(f"turn {turn}: {tree} {args.method} {args.path}: best median {us:.1f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
