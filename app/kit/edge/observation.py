"""What a request leaves behind: one JSON log line, and an EMF line when a counter moved."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from app.kit.logs import logger, timestamp, write_line
from app.kit.runtime import RequestStats

if TYPE_CHECKING:
    from app.snapshot.cache import ReferenceCache


# The Lambda runtime sets this anew for every invoke: read per request, never cached.
_TRACE_VARIABLE = "_X_AMZN_TRACE_ID"


def xray_trace_id() -> str | None:
    """This invoke's X-Ray trace id: the `Root=` field of `_X_AMZN_TRACE_ID`
    (`Root=1-5e1b4151-…;Parent=…;Sampled=0` → `1-5e1b4151-…`), as X-Ray and CloudWatch
    show it; the whole value if it has no Root field; None when the variable is unset."""
    header = os.environ.get(_TRACE_VARIABLE)
    if not header:
        return None
    start = header.find("Root=")
    if start < 0:
        return header
    end = header.find(";", start)
    return header[start + 5 :] if end < 0 else header[start + 5 : end]


Publish = Callable[[bool, Mapping[str, int], Mapping[str, int]], None]


class Observation:
    """What a request leaves behind: its log line, and an EMF line when a counter moved.

    `cache` is the reference cache whose version, age and counters are reported; `publish`
    writes one EMF line (app.kit.metrics.publish)."""

    def __init__(self, cache: ReferenceCache, publish: Publish) -> None:
        self.cache = cache
        self.publish = publish
        # From zero: the first request also publishes what INIT did (its load).
        self._published = dict.fromkeys(cache.counters, 0)

    def record(
        self,
        method: str,
        path: str,
        status: int,
        stats: RequestStats,
        *,
        started: float,
        cold_start: bool,
    ) -> None:
        """The request's line: request and X-Ray trace ids, path, status, duration, cold
        start, SQL statements, cache outcome and age, as one JSON object (app/kit/logs.py
        write_line), built without a LogRecord, datetime or round(): it is written on every
        invoke. Then the EMF line, if a counter moved since the last one."""
        if logger.isEnabledFor(logging.INFO):
            snapshot = self.cache.current
            write_line(
                {
                    "time": timestamp(),
                    "level": "INFO",
                    "logger": "refdata",
                    "message": "request",
                    "request_id": stats.request_id,
                    "xray_trace_id": xray_trace_id(),  # null without _X_AMZN_TRACE_ID
                    "method": method,
                    "path": path,
                    "status": status,
                    # Microseconds, as a float of ms: exact enough, without round()'s cost.
                    "duration_ms": int((time.perf_counter() - started) * 1e6) / 1000,
                    "cold_start": cold_start,
                    "sql_statements": stats.statements,
                    "cache_outcome": stats.cache_outcome,
                    "cache_version": snapshot.version if snapshot else None,
                    "cache_age_s": int(snapshot.age_seconds() * 10) / 10 if snapshot else None,
                    "stale_s": stats.stale_seconds,
                }
            )
        counters = self.cache.counters
        if cold_start or counters != self._published:
            # Counted since the last EMF line (usually: by this request).
            self.publish(cold_start, self._published, counters)
            self._published = dict(counters)
