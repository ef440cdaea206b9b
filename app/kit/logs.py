"""The one logger, `refdata`, writing one JSON object per line (CloudWatch-friendly)."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from app.kit.runtime import current_request

# Attributes every LogRecord has; anything else was passed through `extra=` and is logged.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _scrub(value: Any) -> Any:
    """Replace what UTF-8 cannot hold (lone surrogates from a hostile path or header)."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def dumps(value: Any, option: int = 0) -> bytes:
    """JSON bytes of anything a log line or an error body holds, whatever text it carries."""
    try:
        return orjson.dumps(value, default=str, option=option)
    except TypeError:
        return orjson.dumps(_scrub(value), default=str, option=option)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # A line logged while a request is in flight (its context: app.kit.runtime) names it.
        request = current_request()
        if request is not None:
            entry["request_id"] = request.request_id
        entry.update((k, v) for k, v in record.__dict__.items() if k not in _STANDARD)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return dumps(entry).decode()


# ".000+00:00" … ".999+00:00": the part of a timestamp that changes every millisecond.
_MILLIS = tuple(f".{ms:03d}+00:00" for ms in range(1000))


class _Second:
    """The second of the last timestamp, and its text: formatted once a second, not on
    every invoke (datetime.now(UTC).isoformat would be in every request's latency)."""

    value = -1
    text = ""


def timestamp() -> str:
    """Now, in ISO 8601 UTC with milliseconds: what JsonFormatter writes as "time"."""
    ms = time.time_ns() // 1_000_000
    second = ms // 1000
    if second != _Second.value:
        _Second.text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _Second.value = second
    return _Second.text + _MILLIS[ms - second * 1000]


class _Sink:
    """Where request lines go: the stream of the handler `configure` installed. Whether
    its binary buffer can take the bytes is worked out when the stream is first seen (a
    test, or a runtime, may swap it), not on every line, where the lookup would cost
    every invoke."""

    handler: logging.StreamHandler[Any] | None = None
    stream: Any = None
    binary: Any = None

    @classmethod
    def bind(cls, handler: logging.StreamHandler[Any]) -> None:
        stream = cls.stream = handler.stream
        binary = getattr(stream, "buffer", None)
        # A text stream that passes every line straight down holds no partial line between
        # writes, so the bytes can go straight to its binary layer, whole, in one write as
        # TextIOWrapper itself would: no decode, no text layer. stderr is line-buffered
        # since Python 3.9 (write-through with PYTHONUNBUFFERED); awslambdaric's wrapper
        # shows the attributes of the stream it wraps. Any other stream gets text, under
        # the handler's lock.
        passes_through = getattr(stream, "write_through", False) or getattr(
            stream, "line_buffering", False
        )
        cls.binary = binary if binary is not None and passes_through else None


def write_line(entry: dict[str, Any]) -> None:
    """One JSON object as one line to refdata's log stream, bypassing LogRecord and
    Formatter: for the per-request line, whose cost is part of every invoke's latency.
    The caller checks `logger.isEnabledFor` and fills in time, level, logger and message."""
    handler = _Sink.handler
    if handler is None:
        return
    line = dumps(entry, orjson.OPT_APPEND_NEWLINE)
    if handler.stream is not _Sink.stream:
        _Sink.bind(handler)
    binary = _Sink.binary
    if binary is not None:
        binary.write(line)
        binary.flush()
    else:
        with handler.lock or contextlib.nullcontext():
            handler.stream.write(line.decode())
            handler.stream.flush()


def configure(level: str) -> logging.Logger:
    """Idempotent: a second call (a second import) adds no second handler."""
    logger = logging.getLogger("refdata")
    logger.setLevel(level)
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler) and isinstance(
            handler.formatter, JsonFormatter
        ):
            break
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
    _Sink.handler = handler
    return logger


# refdata's logger; app/init.py configures it (level, JSON lines to stderr) first thing.
logger = logging.getLogger("refdata")
