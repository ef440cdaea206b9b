"""Malformed Lambda events, many of them: the long version of tests/test_bad_events.py.

    python -m reliability.bad_events --events 20000 --seed 20261126 --json out.json

Valid events of every integration (API Gateway REST and HTTP API, ALB, function URL) are
mutated at random — keys dropped or given the wrong type, bodies that are not base64 or not
UTF-8, odd methods, hostile paths and query strings, huge headers — and sent to the real
handler in this process. Every answer must be a well-formed Lambda response below 500, and
every so often a valid invoke must still answer 200 with no SQL. Events to /orders carry the
orders key (until a mutation drops it), so they reach the body as a client's would.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import json
import os
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event as sa_event

from harness import ORDERS_KEY
from harness.events import SHAPES, LambdaContext
from harness.http import as_orders_client
from reliability.measure import failed_checks, write_json

PATHS = [
    "/countries",
    "/countries/VN",
    "/countries/VN/subdivisions",
    "/currencies/vnd",
    "/vn/provinces?q=ho%20chi%20minh",
    "/vn/provinces/79/wards",
    "/vn/wards/26740",
    "/settings/max_order_total_vnd",
    "/orders/quote",
    "/orders",
    "/health",
]
ODD_TEXT = [
    "",
    "\udcff",
    "%ff%fe",
    "../../etc/passwd",
    "%2e%2e%2f",
    "' OR 1=1 --",
    "\x00",
    "é" * 300,
    "a" * 70_000,
    "\u202e",
]
ODD_VALUES: list[Any] = [None, 0, -1, 1.5, True, [], {}, [1, "a"], {"a": None}, *ODD_TEXT]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "BREW", ""]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path inside a JSON-like event."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    return found


def _parent(event: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    target = event
    for key in path[:-1]:
        target = target[key]
    return target


def drop_key(event: dict[str, Any], rng: random.Random) -> None:
    path = rng.choice(_paths(event))
    del _parent(event, path)[path[-1]]


def wrong_type(event: dict[str, Any], rng: random.Random) -> None:
    path = rng.choice(_paths(event))
    _parent(event, path)[path[-1]] = rng.choice(ODD_VALUES)


def odd_body(event: dict[str, Any], rng: random.Random) -> None:
    raw = rng.randbytes(rng.choice([1, 100, 5000]))
    if rng.random() < 0.5:
        event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    else:
        event["body"] = rng.choice(["!!not base64!!", raw.decode("latin-1"), "{" * 5000])
        event["isBase64Encoded"] = rng.random() < 0.5


def odd_method(event: dict[str, Any], rng: random.Random) -> None:
    method = rng.choice(METHODS)
    if "httpMethod" in event:
        event["httpMethod"] = method
    http = event.get("requestContext", {}).get("http")
    if isinstance(http, dict):
        http["method"] = method


def odd_path(event: dict[str, Any], rng: random.Random) -> None:
    text = "/" + rng.choice(ODD_TEXT) + rng.choice(["", "/wards", "?q=" + rng.choice(ODD_TEXT)])
    for key in ("path", "rawPath"):
        if key in event:
            event[key] = text
    http = event.get("requestContext", {}).get("http")
    if isinstance(http, dict):
        http["path"] = text
    if "rawQueryString" in event:
        event["rawQueryString"] = rng.choice(ODD_TEXT)


def odd_headers(event: dict[str, Any], rng: random.Random) -> None:
    headers = event.get("headers")
    if not isinstance(headers, dict):
        return
    choice = rng.randrange(4)
    if choice == 0:
        headers["x-big"] = "b" * rng.choice([10_000, 200_000])
    elif choice == 1:
        headers.update({f"x-h{i}": "v" for i in range(rng.choice([50, 500]))})
    elif choice == 2:
        headers[rng.choice(ODD_TEXT) or "x-empty"] = rng.choice(ODD_TEXT)
    else:
        headers["content-length"] = rng.choice(["-1", "abc", "99999999999", ""])


MUTATIONS: list[Callable[[dict[str, Any], random.Random], None]] = [
    drop_key,
    wrong_type,
    odd_body,
    odd_method,
    odd_path,
    odd_headers,
]


def well_formed(response: Any) -> bool:
    if not isinstance(response, dict) or not isinstance(response.get("statusCode"), int):
        return False
    headers = response.get("headers") or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        return False
    if not isinstance(response.get("body", ""), str):
        return False
    try:
        json.dumps(response)
    except (TypeError, ValueError):
        return False
    return isinstance(response.get("isBase64Encoded", False), bool)


# What no body may carry: a traceback, SQL, a file path, the orders key.
LEAKS: tuple[str, ...] = ("Traceback", 'File "', "site-packages", "sqlalchemy", "psycopg")
LEAKS += ("SELECT ", "/tmp/", ORDERS_KEY)  # noqa: S108


def run(events: int, seed: int) -> dict[str, Any]:
    # Imported here: the app builds its engine at import, from the environment main() set.
    from app.init import engine  # noqa: PLC0415
    from app.lambda_handler import handler  # noqa: PLC0415

    if str(engine.url) != os.environ["REFDATA_DATABASE_URL"]:
        raise RuntimeError("the app is connected to another database")

    rng = random.Random(seed)  # noqa: S311 -- reproducible, not secret
    context = LambdaContext()
    statements: list[str] = []
    sa_event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    statuses: Counter[int] = Counter()
    malformed, server_errors, leaks, probes, probe_failures = 0, 0, 0, 0, 0
    samples: list[str] = []
    for index in range(events):
        shape = rng.choice(sorted(SHAPES))
        method = "POST" if rng.random() < 0.3 else "GET"
        body = b'{"address": {"province_code": 79}}' if method == "POST" else None
        path = rng.choice(PATHS)
        event: Any = SHAPES[shape](method, path, as_orders_client(path, None), body)
        for mutate in rng.sample(MUTATIONS, rng.randint(1, 3)):
            # Nothing of that kind left to mutate is fine: the next mutation still applies.
            with contextlib.suppress(IndexError, KeyError, TypeError, AttributeError):
                mutate(event, rng)
        if rng.random() < 0.02:
            event = rng.choice([None, [], "text", 42, {"Records": []}])
        response = handler(copy.deepcopy(event), context)
        if not well_formed(response):
            malformed += 1
        else:
            statuses[response["statusCode"]] += 1
            if response["statusCode"] >= 500:
                server_errors += 1
                if len(samples) < 5:
                    samples.append(f"{shape}: {str(event)[:200]}")
            if any(leak in str(response.get("body", "")) for leak in LEAKS):
                leaks += 1
        if index % 50 == 0:  # after a malformed response too
            probes += 1
            statements.clear()
            valid = handler(SHAPES["http_v2"]("GET", "/countries/VN"), context)
            if valid["statusCode"] != 200 or statements:
                probe_failures += 1
    checks = {
        "every event got a well-formed Lambda response": malformed == 0,
        "no 5xx for any event": server_errors == 0,
        "no traceback, SQL or path in any body": leaks == 0,
        "every valid invoke in between answered 200 with 0 SQL statements": probe_failures == 0,
    }
    return {
        "scenario": "bad-events",
        "backend": "sqlite",
        "environment": "the Lambda handler in this process, called as the runtime would",
        "tried": {"events": events, "seed": seed, "valid_invokes_in_between": probes},
        "observed": {
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "malformed_responses": malformed,
            "server_errors": server_errors,
            "server_error_samples": samples,
        },
        "checks": checks,
        "held": all(checks.values()),
        "command": f"python -m reliability.bad_events --events {events} --seed {seed}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="refdata-bad-events-") as scratch:
        url = f"sqlite:///{Path(scratch) / 'refdata.db'}"
        # Before anything imports app.kit.settings (alembic's env.py does): the app builds its
        # engine from the environment, once.
        os.environ.update(
            REFDATA_DATABASE_URL=url, REFDATA_LOG_LEVEL="ERROR", REFDATA_ORDERS_API_KEY=ORDERS_KEY
        )
        from harness.databases import migrate  # noqa: PLC0415 -- imports app.kit.settings

        migrate(url)
        summary = run(args.events, args.seed)
    write_json(summary, args.json)
    failed = failed_checks(summary)
    for name in failed:
        print(f"FAILED: {name}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
