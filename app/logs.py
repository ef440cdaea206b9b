"""The one logger, `refdata`, writing one JSON object per line (CloudWatch-friendly)."""

from __future__ import annotations

import contextlib
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from app.config import settings

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


def dumps(value: Any) -> bytes:
    """JSON bytes of anything a log line or an error body holds, whatever text it carries."""
    try:
        return orjson.dumps(value, default=str)
    except TypeError:
        return orjson.dumps(_scrub(value), default=str)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update((k, v) for k, v in record.__dict__.items() if k not in _STANDARD)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return dumps(entry).decode()


def emit(message: str, fields: dict[str, Any]) -> None:
    """The per-request line: the same logger, stream and format as `logger.info`, without
    building a LogRecord — it runs on every invoke, so its cost is part of every latency."""
    if not logger.isEnabledFor(logging.INFO):
        return
    entry = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "level": "INFO",
        "logger": "refdata",
        "message": message,
        **fields,
    }
    line = dumps(entry).decode() + "\n"
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            # No flush: stderr is line-buffered (Python ≥ 3.9), so the line goes out whole.
            with handler.lock or contextlib.nullcontext():
                handler.stream.write(line)


def configure(level: str) -> logging.Logger:
    """Idempotent: a second call (a second import) adds no second handler."""
    logger = logging.getLogger("refdata")
    logger.setLevel(level)
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
    return logger


logger = configure(settings.log_level)
