"""Fuzzing from the contract: schemathesis generates requests from the app's own /openapi.json.

Every operation, through the ASGI app in this process (the session's test database), in
three phases: the documented examples, schemathesis's coverage cases (boundaries, missing
and malformed parameters, unexpected methods) and FUZZ_EXAMPLES generated cases, valid and
invalid, from a fixed seed. Every response must be no 5xx; have a documented status,
content type and body schema; carry the security headers; and leak no traceback, SQL, file
path or secret.

FUZZ_EXAMPLES: generated cases per operation; default 100 when CI=true, else 25.
`python -m reliability.fuzz` runs this module with 1000 and collects FUZZ_SUMMARY.

Orders placed here stay in the session's database (no test may expect an empty table), and
admin writes made with the key are put back after each admin operation.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import hypothesis
import pytest
import schemathesis
from schemathesis import APIOperation, Case, CheckContext, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import datasets
from app.datasets import setting_values
from app.init import cache, settings
from app.main import app
from harness import ADMIN_KEY
from harness.databases import Database
from harness.datasets import DATASET_ROUTES
from harness.events import http_v2
from harness.http import invoke

SEED = int(os.environ.get("FUZZ_SEED", "20261126"))
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or (100 if os.environ.get("CI") == "true" else 25))
SUMMARY = os.environ.get("FUZZ_SUMMARY")

# In a response body, any of these means something internal got out. The lower-case ones
# are matched ignoring case; a marker the request itself carried is not counted (a 404
# may name the code it was asked for).
LEAK_MARKERS = ("Traceback", 'File "', "SELECT ", "INSERT ")
LEAK_MARKERS_ANY_CASE = ("sqlalchemy", "psycopg", "/work/", "/tmp/", "site-packages", '.py"')  # noqa: S108


Call = Case[APIOperation[Any, Any, Any, Any]]


def _secrets() -> tuple[str, ...]:
    url = settings.database_url.get_secret_value()
    return ADMIN_KEY, url, url.partition("://")[2]


def leaks(body: str, sent: str) -> list[str]:
    """What in `body` should never be there: internals the request did not carry itself,
    and the secrets whatever the request carried."""
    found = [marker for marker in LEAK_MARKERS if marker in body and marker not in sent]
    lowered, sent_lowered = body.lower(), sent.lower()
    found += [
        marker
        for marker in LEAK_MARKERS_ANY_CASE
        if marker in lowered and marker not in sent_lowered
    ]
    return found + [f"secret #{i}" for i, secret in enumerate(_secrets()) if secret in body]


def _sent(case: Call) -> str:
    # The path parameters as JSON too: a 422 echoes a malformed one as its `input` (a key
    # `.PY` comes back as `".PY"`, which is not a file path the server gave away).
    parameters = json.dumps(case.path_parameters or {}, ensure_ascii=False)
    return unquote(f"{case.formatted_path} {parameters} {case.query!r} {case.body!r}")


def no_leaks(ctx: CheckContext, response: Response, case: Call) -> bool | None:
    """No traceback, SQL, file path or secret in any response body."""
    found = leaks(response.content.decode("utf-8", "replace"), _sent(case))
    assert not found, f"response body leaks {found}"
    return None


def security_headers(ctx: CheckContext, response: Response, case: Call) -> bool | None:
    """Every response, errors and 405s included, carries nosniff and a CSP."""
    assert response.headers.get("x-content-type-options") == ["nosniff"], "no nosniff"
    assert response.headers.get("content-security-policy"), "no Content-Security-Policy"
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    no_leaks,
    security_headers,
]

schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    app,
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": EXAMPLES, "mode": "all", "database": "none"},
            "suppress-health-check": ["all"],
        }
    ),
)
# A shared machine: no per-example deadline; no example database, so every run is the same.
SETTINGS = hypothesis.settings(deadline=None, database=None, print_blob=False)


# What was sent and seen, by (variant, operation): for the summary `reliability.fuzz` writes.
STATUSES: defaultdict[tuple[str, str], Counter[str]] = defaultdict(Counter)
PHASES: defaultdict[tuple[str, str], Counter[str]] = defaultdict(Counter)
FAILURES: dict[tuple[str, str, str], dict[str, Any]] = {}
SECONDS: dict[tuple[str, str], float] = {}


def exercise(variant: str, case: Call, headers: dict[str, str] | None = None) -> Response:
    """Send `case`, record what came back, and run every check on it."""
    key = (variant, case.operation.label)
    response = case.call(headers=headers)
    STATUSES[key][str(response.status_code)] += 1
    PHASES[key][case.meta.phase.name.value if case.meta else "unknown"] += 1
    if case.operation.label == "POST /orders":
        sent_key = "Idempotency-Key" in (case.headers or {})
        PHASES[key]["with Idempotency-Key" if sent_key else "without Idempotency-Key"] += 1
    try:
        case.validate_response(response, checks=CHECKS, headers=headers)
    except* AssertionError as group:
        for failure in group.exceptions:
            title = str(getattr(failure, "title", type(failure).__name__))
            FAILURES.setdefault(
                (*key, title),
                {
                    "variant": variant,
                    "operation": case.operation.label,
                    "check": check_of(failure),
                    "failure": title,
                    "status": response.status_code,
                    "detail": str(failure)[:500],
                },
            )
        raise
    return response


# schemathesis's failure classes, by the check that raises them.
_CHECK_OF_FAILURE = {
    "ServerError": "not_a_server_error",
    "UndefinedStatusCode": "status_code_conformance",
    "UndefinedContentType": "content_type_conformance",
    "MalformedMediaType": "content_type_conformance",
    "MissingContentType": "content_type_conformance",
    "JsonSchemaError": "response_schema_conformance",
    "MalformedJson": "response_schema_conformance",
    "ContentDeserializationError": "response_schema_conformance",
}


def check_of(failure: BaseException) -> str:
    """The name of the check in CHECKS that `failure` came from."""
    title = str(getattr(failure, "title", ""))
    for check in CHECKS:
        if f"`{check.__name__}`" in title:  # our own checks: "Custom check failed: `name`"
            return check.__name__
    return _CHECK_OF_FAILURE.get(type(failure).__name__, type(failure).__name__)


@pytest.fixture(autouse=True)
def _timed(request: pytest.FixtureRequest) -> Iterator[None]:
    started = time.perf_counter()
    yield
    variant, _, label = request.node.name.removeprefix("test_").partition("[")
    SECONDS[(variant, label.rstrip("]"))] = round(time.perf_counter() - started, 3)


@pytest.fixture(scope="module", autouse=True)
def _summary() -> Iterator[None]:
    yield
    if SUMMARY:
        Path(SUMMARY).write_text(json.dumps(summary(), indent=2) + "\n")


def summary() -> dict[str, Any]:
    """Per variant and operation: requests by phase and status, seconds, failures."""
    operations = [
        {
            "variant": variant,
            "operation": label,
            "requests": sum(STATUSES[variant, label].values()),
            "generated": PHASES[variant, label]["fuzzing"],
            "phases": dict(PHASES[variant, label]),
            "statuses": dict(sorted(STATUSES[variant, label].items())),
            "seconds": SECONDS.get((variant, label)),
        }
        for variant, label in sorted(STATUSES)
    ]
    return {
        "tool": f"schemathesis {schemathesis.__version__}, hypothesis {hypothesis.__version__}",
        "seed": SEED,
        "examples_per_operation": EXAMPLES,
        "checks": [check.__name__ for check in CHECKS],
        "operations": operations,
        "failures": list(FAILURES.values()),
    }


@pytest.fixture
def restore_settings() -> Iterator[None]:
    """Put back every setting an admin write changed, through the admin API."""
    before = setting_values(cache.snapshot())
    yield
    after = setting_values(cache.snapshot())
    for key, value in before.items():
        if after.get(key) != value:
            headers = {"authorization": f"Bearer {ADMIN_KEY}", "content-type": "application/json"}
            body = json.dumps({"value": value}).encode()
            reply = invoke(http_v2("PUT", f"/admin/settings/{key}", headers, body))
            assert reply.status == 200, reply.body
    restored = setting_values(cache.snapshot())
    assert restored == before


def _require_idempotency_key(context: Any, headers: dict[str, Any] | None) -> bool:
    return bool(headers) and "Idempotency-Key" in headers  # type: ignore[operator]


def _drop_idempotency_key(context: Any, headers: dict[str, Any] | None) -> dict[str, Any] | None:
    if headers:
        headers.pop("Idempotency-Key", None)
    return headers


def _real_setting_key(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    # Most generated keys name no setting (404); map well-formed ones onto real keys, so
    # values of every JSON type reach every setting's checks and writes.
    key = (path_parameters or {}).get("key")
    if isinstance(key, str) and re.fullmatch(r"[a-z][a-z0-9_]{0,63}", key):
        keys = sorted(cache.snapshot()[datasets.SETTINGS].by_key)
        path_parameters = {**(path_parameters or {}), "key": keys[len(key) % len(keys)]}
    return path_parameters


public = schema.exclude(path_regex="^/admin/")
place_order = schema.include(path="/orders", method="POST")
admin = schema.include(path_regex="^/admin/")


@public.parametrize()
@SETTINGS
def test_public(case: Call) -> None:
    exercise("public", case)


@place_order.hooks.apply(_require_idempotency_key, name="filter_headers")
@place_order.parametrize()
@SETTINGS
def test_orders_with_idempotency_key(case: Call) -> None:
    exercise("orders_with_idempotency_key", case)


@place_order.hooks.apply(_drop_idempotency_key, name="map_headers")
@place_order.parametrize()
@SETTINGS
def test_orders_without_idempotency_key(case: Call) -> None:
    if case.headers:  # coverage cases are not generated through the hooks
        case.headers.pop("Idempotency-Key", None)
    exercise("orders_without_idempotency_key", case)


@admin.hooks.apply(_real_setting_key, name="map_path_parameters")
@admin.parametrize()
@SETTINGS
def test_admin_with_key(
    case: Call, restore_settings: None, capfd: pytest.CaptureFixture[str]
) -> None:
    exercise("admin_with_key", case, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    out, err = capfd.readouterr()
    assert ADMIN_KEY not in out + err


@admin.parametrize()
@SETTINGS
def test_admin_without_key(case: Call) -> None:
    # schemathesis sends no token, a malformed one or random ones; never the key.
    response = exercise("admin_without_key", case)
    assert not 200 <= response.status_code < 300, f"{case.operation.label} without the key"


def test_every_dataset_route_is_fuzzed() -> None:
    operations = list(public.get_all_operations())
    labels = {result.ok().label for result in operations if isinstance(result, Ok)}
    assert len(labels) == len(operations)  # each one read from the document
    missing = {f"GET {route.route.path}" for route in DATASET_ROUTES} - labels
    assert not missing, f"not in the fuzzed document: {missing}"


def test_the_leak_check_sees_what_it_is_for() -> None:
    traceback = 'Traceback (most recent call last):\n  File "/work/main/app/orders.py"'
    assert leaks(traceback, "") == ["Traceback", 'File "', "/work/", '.py"']
    assert leaks('{"detail": "(psycopg.errors.UniqueViolation) INSERT INTO x"}', "")
    assert leaks(f"Bearer {ADMIN_KEY}", ADMIN_KEY) == ["secret #0"]
    assert leaks(settings.database_url.get_secret_value(), "")
    assert leaks("No setting with key 'sqlalchemy'.", "/settings/sqlalchemy") == []


@pytest.mark.skipif(SUMMARY is not None, reason="this is the long run's own pytest")
def test_the_long_run_writes_a_summary(database: Database, tmp_path: Path) -> None:
    """`python -m reliability.fuzz`, with a handful of cases, on this session's backend."""
    from reliability.fuzz import main

    out = tmp_path / "fuzz.json"
    assert main(["--examples", "3", "--db", database.kind, "--json", str(out)]) == 0
    summary = json.loads(out.read_text())
    (part,) = summary["backends"]
    assert part["pytest_exit"] == 0, part["outcome"]
    assert all(summary["checks"].values()), summary["checks"]
    labels = {(op["variant"], op["operation"]) for op in part["operations"]}
    assert ("admin_without_key", "PUT /admin/settings/{key}") in labels
    operations = sum(len(methods) for methods in app.openapi()["paths"].values())
    assert len({label for _, label in labels}) == operations  # every one of them
