"""Logs a user can correlate: a request id on every line of a request, and where EMF goes.

On Lambda the id is the invoke's aws_request_id; under uvicorn (no Lambda context) it is a
well-formed client X-Request-Id or a new uuid4 hex, returned as `x-request-id` either way.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from starlette.types import Message

from app.kit.logs import logger
from harness import ADMIN_KEY
from harness.databases import Database
from harness.events import LambdaContext, http_v2
from harness.http import Reply, invoke, reply
from harness.processes import run_python

GENERATED = re.compile(r"[0-9a-f]{32}")  # uuid4().hex
TRACE_ROOT = "1-5e1b4151-5ac6c58f3b8e1b0bd0f0b6d7"
TRACE_HEADER = f"Root={TRACE_ROOT};Parent=53995c3f42cd8ad8;Sampled=0"
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}
ADMIN_KEY_HEADER = ADMIN["authorization"].encode()

Lines = Callable[[], list[dict[str, Any]]]


def asgi(
    method: str, path: str, headers: Iterable[tuple[bytes, bytes]] = (), body: bytes = b""
) -> Reply:
    """One request to the FastAPI app itself, as uvicorn would pass it: no aws.context."""
    from app.main import app

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    # A loop of its own, never made current: Mangum's invokes keep using theirs.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(app(scope, receive, send))
    finally:
        loop.close()
    start = sent[0]
    assert start["type"] == "http.response.start"
    headers_ = {name.decode("latin-1"): value.decode("latin-1") for name, value in start["headers"]}
    return Reply(start["status"], headers_, b"".join(m.get("body", b"") for m in sent[1:]))


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch, log_to: Callable[[Any], None]) -> Lines:
    """refdata's log handler writing to a fresh stream at INFO; returns a reader of its lines."""
    invoke(http_v2("GET", "/countries"))  # INIT and the cold start are behind us
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    stream = io.StringIO()
    log_to(stream)
    return lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


class TestLambda:
    def test_the_invokes_aws_request_id_is_logged_and_returned(self, log: Lines) -> None:
        from app.lambda_handler import handler

        context = LambdaContext(aws_request_id="8f5c3c4e-0d52-4d5e-9c1b-6a1f0e2d7b44")
        # A client's header does not override the invoke's own id.
        event = http_v2("GET", "/countries/VN", {"X-Request-Id": "client-chosen"})
        response = reply(handler(event, context))
        assert response.status == 200
        assert response.headers["x-request-id"] == context.aws_request_id
        (line,) = log()
        assert line["request_id"] == context.aws_request_id

    @pytest.mark.parametrize("context", [None, object()], ids=["none", "no-attribute"])
    def test_without_a_context_id_one_is_generated(self, log: Lines, context: Any) -> None:
        from app.lambda_handler import handler

        first = reply(handler(http_v2("GET", "/countries/VN"), context))
        second = reply(handler(http_v2("GET", "/countries/VN"), context))
        ids = [line["request_id"] for line in log()]
        assert ids == [first.headers["x-request-id"], second.headers["x-request-id"]]
        assert all(GENERATED.fullmatch(id_) for id_ in ids)
        assert ids[0] != ids[1]

    def test_the_xray_trace_id_is_read_on_every_invoke(
        self, log: Lines, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # awslambdaric sets _X_AMZN_TRACE_ID before each invoke and removes it when the
        # runtime sends none.
        monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE_HEADER)
        invoke(http_v2("GET", "/countries/VN"))
        monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-00000000-000000000000000000000001")
        invoke(http_v2("GET", "/countries/VN"))
        monkeypatch.delenv("_X_AMZN_TRACE_ID")
        invoke(http_v2("GET", "/countries/VN"))
        traces = [line["xray_trace_id"] for line in log()]  # the key is always there
        assert traces == [TRACE_ROOT, "1-00000000-000000000000000000000001", None]

    @pytest.mark.parametrize(
        ("header", "logged"),
        [
            (f"Parent=53995c3f42cd8ad8;Root={TRACE_ROOT};Sampled=1", TRACE_ROOT),
            (f"Root={TRACE_ROOT}", TRACE_ROOT),
            ("Self=1-67891234-12456789abcdef012345678", "Self=1-67891234-12456789abcdef012345678"),
        ],
        ids=["root-not-first", "root-alone", "no-root-logged-whole"],
    )
    def test_the_trace_id_is_the_root_field_wherever_it_is(
        self, log: Lines, monkeypatch: pytest.MonkeyPatch, header: str, logged: str
    ) -> None:
        monkeypatch.setenv("_X_AMZN_TRACE_ID", header)
        invoke(http_v2("GET", "/countries/VN"))
        (line,) = log()
        assert line["xray_trace_id"] == logged

    def test_lines_logged_during_the_request_carry_its_id(self, log: Lines) -> None:
        from app.lambda_handler import handler

        context = LambdaContext(aws_request_id="0b8c1d36-5f0e-4e8b-a0a4-2d7f4f3e9a10")
        # A sync route: its worker thread logs "reference cache loaded" in a copied context.
        event = http_v2("POST", "/admin/cache/refresh", ADMIN)
        assert reply(handler(event, context)).status == 200
        logger.warning("after the request")
        *during, after = log()
        assert [line["message"] for line in during] == ["reference cache loaded", "request"]
        assert {line["request_id"] for line in during} == {context.aws_request_id}
        assert "request_id" not in after


class TestUvicorn:
    def test_the_logged_id_is_the_response_header_and_new_per_request(self, log: Lines) -> None:
        first, second = asgi("GET", "/countries/VN"), asgi("GET", "/countries/XX")
        assert (first.status, second.status) == (200, 404)
        lines = log()
        assert [line["request_id"] for line in lines] == [
            first.headers["x-request-id"],
            second.headers["x-request-id"],
        ]
        assert GENERATED.fullmatch(first.headers["x-request-id"])
        assert first.headers["x-request-id"] != second.headers["x-request-id"]
        assert [line["xray_trace_id"] for line in lines] == [None, None]

    @pytest.mark.parametrize(
        "client_id", ["abc-123_X.y", "0" * 128, "c6af9ac6-7b61-11e6-9a41-93e812345678"]
    )
    def test_a_well_formed_client_id_is_adopted(self, log: Lines, client_id: str) -> None:
        response = asgi("GET", "/countries/VN", [(b"x-request-id", client_id.encode())])
        assert response.headers["x-request-id"] == client_id
        (line,) = log()
        assert line["request_id"] == client_id

    @pytest.mark.parametrize(
        "hostile",
        [
            b"",
            b"x" * 129,
            b"has space",
            "ünïcødé".encode(),
            b"\xff\xfe",
            b"id\r\nset-cookie: session=stolen",
            b'id","level":"ERROR',
            b"../../etc/passwd",
        ],
        ids=["empty", "too-long", "space", "non-ascii", "not-utf8", "crlf", "json", "slashes"],
    )
    def test_a_hostile_client_id_is_replaced_not_echoed(self, log: Lines, hostile: bytes) -> None:
        response = asgi("GET", "/countries/VN", [(b"x-request-id", hostile)])
        assert response.status == 200
        generated = response.headers["x-request-id"]
        assert GENERATED.fullmatch(generated)
        (line,) = log()
        assert line["request_id"] == generated

    def test_a_refused_body_still_names_its_request(self, log: Lines) -> None:
        too_large = [(b"content-type", b"application/json"), (b"content-length", b"10000000")]
        response = asgi("POST", "/orders/quote", too_large)
        assert response.status == 413
        (line,) = log()
        assert line["status"] == 413
        assert line["request_id"] == response.headers["x-request-id"]


def emf_lines(text: str) -> list[dict[str, Any]]:
    """The EMF objects (JSON with an `_aws` key) among the lines of `text`."""
    found = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "_aws" in value:
            found.append(value)
    return found


def test_no_emf_on_the_console_under_uvicorn_by_default(capfd: pytest.CaptureFixture[str]) -> None:
    from app.init import settings

    if settings.emf_metrics or os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        pytest.skip("this session is not configured as a developer's console")
    asgi("GET", "/countries/VN")
    capfd.readouterr()
    # A refresh counts a cache load: a request that publishes metrics when EMF is on.
    refresh = asgi("POST", "/admin/cache/refresh", [(b"authorization", ADMIN_KEY_HEADER)])
    assert refresh.status == 200
    out, err = capfd.readouterr()
    assert emf_lines(out + err) == []


# A fresh environment (INIT reads the setting) serving its first, cold request through the
# plain ASGI app: EMF's ColdStarts line is printed, or not.
EMF_PROBE = """\
import json, sys
from tests.test_request_ids import asgi
response = asgi("GET", "/countries/VN")
print(json.dumps({"status": response.status, "powertools": "aws_lambda_powertools" in sys.modules}))
"""


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"REFDATA_EMF_METRICS": ""}, False),
        ({"REFDATA_EMF_METRICS": "true"}, True),
        ({"AWS_LAMBDA_FUNCTION_NAME": "refdata-api"}, True),
        ({"AWS_LAMBDA_FUNCTION_NAME": "refdata-api", "REFDATA_EMF_METRICS": "false"}, False),
    ],
    ids=["uvicorn", "uvicorn-empty", "uvicorn-setting-on", "lambda", "lambda-setting-off"],
)
def test_emf_goes_to_stdout_where_it_is_on_and_nowhere_else(
    database: Database, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], on: bool
) -> None:
    for name in ("AWS_LAMBDA_FUNCTION_NAME", "REFDATA_EMF_METRICS"):
        monkeypatch.delenv(name, raising=False)  # only `env` says
    result = run_python(EMF_PROBE, {"REFDATA_DATABASE_URL": database.url, **env})
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["status"] == 200
    assert emf_lines(result.stderr) == []
    emf = emf_lines(result.stdout)
    if on:
        (line,) = emf
        assert (line["ColdStarts"], line["CacheLoads"]) == ([1.0], [1.0])  # INIT's load
        assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "refdata"
    else:
        assert emf == []
        assert summary["powertools"] is False  # not even imported
