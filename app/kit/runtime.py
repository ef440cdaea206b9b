"""Facts about this execution environment and the request it is serving.

Cold start, invocation count, and per-request stats (request id, SQL statements, cache
outcome) that the request log line reports.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

_INITIALIZATION_TYPE = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
# Managed instances: each worker INITs before it gets traffic and is never frozen: no cold start.
MANAGED_INSTANCES = (
    _INITIALIZATION_TYPE == "lambda-managed-instances" or "AWS_LAMBDA_MAX_CONCURRENCY" in os.environ
)
# Provisioned concurrency and SnapStart environments are initialised ahead of traffic too:
# their first request is not a cold start for the caller.
_ON_DEMAND = _INITIALIZATION_TYPE == "on-demand" and not MANAGED_INSTANCES


class Environment:
    invocations = 0

    @classmethod
    def is_cold_start(cls) -> bool:
        """True while serving the first request of an on-demand environment."""
        return _ON_DEMAND and cls.invocations == 1


@dataclass(slots=True)
class RequestStats:
    request_id: str = ""
    statements: int = 0
    cache_outcome: str | None = None
    stale_seconds: float | None = None


# One mutable record per request. Worker threads of sync routes run in a copy of the
# request's context, so they see (and update) the same object.
_current: ContextVar[RequestStats | None] = ContextVar("request_stats", default=None)


def start_request(request_id: str) -> RequestStats:
    stats = RequestStats(request_id)
    _current.set(stats)
    return stats


def current_request() -> RequestStats | None:
    """The stats of the request this code runs for; None outside a request."""
    return _current.get()


def count_statement(*_: Any) -> None:
    """SQLAlchemy before_cursor_execute listener: one more statement for this request."""
    stats = _current.get()
    if stats is not None:
        stats.statements += 1


def note(outcome: str, stale_seconds: float | None) -> None:
    """The reference cache reports what it did for this request."""
    stats = _current.get()
    if stats is not None:
        stats.cache_outcome = outcome
        stats.stale_seconds = stale_seconds
