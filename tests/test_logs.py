"""The per-request log line: one JSON object per line, whatever stream the logger has."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.kit.logs import logger, timestamp, write_line
from harness import leaks
from harness.events import LambdaContext, http_v2, rest_v1
from harness.http import invoke


def text_stream() -> tuple[Any, Callable[[], str]]:
    """A text-only stream (no binary layer): lines go through the handler's lock as text."""
    stream = io.StringIO()
    return stream, stream.getvalue


def write_through_stream() -> tuple[Any, Callable[[], str]]:
    """Like sys.stderr since Python 3.9: lines go to its binary layer as bytes."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    return stream, lambda: raw.getvalue().decode()


def line_buffered_stream() -> tuple[Any, Callable[[], str]]:
    """Like stderr under awslambdaric: line-buffered over a buffered writer."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8", line_buffering=True)
    return stream, lambda: raw.getvalue().decode()


@pytest.fixture(params=[text_stream, write_through_stream, line_buffered_stream])
def log(
    request: pytest.FixtureRequest, log_to: Callable[[Any], None]
) -> Callable[[], list[dict[str, Any]]]:
    """refdata's log handler writing to a fresh stream at INFO; returns a reader of its lines."""
    invoke(http_v2("GET", "/countries"))  # INIT and the cold start are behind us
    stream, read = request.param()
    log_to(stream)

    def lines() -> list[dict[str, Any]]:
        text = read()
        leaks.check(text, "a log line")  # this stream stands in for the checked one
        assert text.endswith("\n")
        return [json.loads(line) for line in text.splitlines()]

    return lines


def test_every_invoke_writes_one_line_with_what_the_issue_names(
    log: Callable[[], list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    before, started = datetime.now(UTC), time.perf_counter()
    invoke(http_v2("GET", "/countries/VN"))
    elapsed_ms, after = (time.perf_counter() - started) * 1000, datetime.now(UTC)
    invoke(http_v2("GET", "/countries/XX"))
    first, second = log()
    assert first["message"] == "request"
    # invoke() passes a LambdaContext: the invoke's own id (tests/test_request_ids.py).
    assert first["request_id"] == LambdaContext.aws_request_id
    assert first["xray_trace_id"] is None  # always logged; null without _X_AMZN_TRACE_ID
    assert first["level"] == "INFO"
    assert first["logger"] == "refdata"
    assert (first["method"], first["path"], first["status"]) == ("GET", "/countries/VN", 200)
    assert (second["path"], second["status"]) == ("/countries/XX", 404)
    assert first["cold_start"] is False
    assert first["sql_statements"] == 0
    assert first["cache_outcome"] == "hit"
    assert isinstance(first["cache_version"], int)
    assert isinstance(first["cache_age_s"], float)
    # Within the invoke, as the caller saw it (ordering, not speed: no duration limit here).
    assert isinstance(first["duration_ms"], float)
    assert 0 < first["duration_ms"] <= elapsed_ms
    logged = datetime.fromisoformat(first["time"])
    assert before - timedelta(milliseconds=1) <= logged <= after  # stamped to the ms


def test_request_lines_and_other_log_lines_stay_whole_and_in_order(
    log: Callable[[], list[dict[str, Any]]],
) -> None:
    invoke(http_v2("GET", "/countries/VN"))
    logger.warning("between", extra={"n": 1})
    invoke(http_v2("GET", "/currencies/VND"))
    assert [(line["message"], line.get("path")) for line in log()] == [
        ("request", "/countries/VN"),
        ("between", None),
        ("request", "/currencies/VND"),
    ]


def test_a_stage_prefix_is_not_part_of_the_logged_route(
    log: Callable[[], list[dict[str, Any]]],
) -> None:
    invoke(rest_v1("GET", "/countries/VN", stage="prod"))
    (line,) = log()
    assert (line["path"], line["status"]) == ("/countries/VN", 200)


def test_text_utf8_cannot_hold_is_replaced_not_fatal(
    log: Callable[[], list[dict[str, Any]]],
) -> None:
    write_line({"message": "request", "path": "/countries/\udcff"})
    (line,) = log()
    assert line["path"] == "/countries/?"


def test_timestamps_match_the_formatters_and_the_clock() -> None:
    for _ in range(3):
        before = datetime.now(UTC)
        stamp = timestamp()
        after = datetime.now(UTC)
        # The format JsonFormatter writes: ISO 8601, milliseconds, explicit UTC offset.
        assert len(stamp) == len("2026-11-26T22:53:05.123+00:00")
        assert stamp.endswith("+00:00")
        parsed = datetime.fromisoformat(stamp)
        assert before - timedelta(milliseconds=1) <= parsed <= after
